"""End to end: real calls on the sandbox Asterisk, alerts through ccbot's Slack
adapter (slack_sdk over real HTTP) to the stand-in Slack server, and button
clicks sent back the way Slack sends them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import App
from integrations.slack.app import SlackFrontEnd
from sandbox.asterisk import Sandbox
from tests.conftest import eventually, members, say
from tests.handlers.test_alerts_asterisk import BOB, SILENT, ZOE, Phone
from tests.integrations.slack import conftest as slack_fixtures
from tests.integrations.slack.conftest import ANA, BEN, SALES_CHANNEL, SlackClient
from tests.integrations.slack.standin import APP_ID, TEAM_ID, SlackStandIn

pytestmark = pytest.mark.asterisk

# The Slack stand-in and ccbot's Slack front end, from the Slack tests.
standin = slack_fixtures.standin
workspace = slack_fixtures.workspace
slack = slack_fixtures.slack
slack_client = slack_fixtures.slack_client


@pytest.fixture
async def phone(pbx: Sandbox) -> AsyncIterator[Phone]:
    caller = Phone(pbx.ami_port)
    await caller.start()
    yield caller
    caller.close()


@pytest.fixture
async def wired(app: App, slack: SlackFrontEnd) -> App:
    await app.start_calls()
    return app


def alerts_in(standin: SlackStandIn, channel: str) -> list[tuple[str, dict[str, Any]]]:
    """Missed-call messages as Slack holds them now: (ts, message)."""
    return [
        (ts, message)
        for (where, ts), message in sorted(standin.messages.items())
        if where == channel and message["text"].startswith("Missed call")
    ]


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button" and element["text"]["text"] == label:
                return element
    raise AssertionError(f"no {label!r} button in {json.dumps(message)[:400]}")


def click(
    standin: SlackStandIn, user: str, channel: str, ts: str, element: dict[str, Any]
) -> dict[str, Any]:
    """A block_actions payload for a button in a channel message."""
    return {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "channel": {"id": channel, "name": "sales-calls"},
        "trigger_id": f"{time.time():.0f}.{uuid.uuid4().hex}",
        "team": {"id": TEAM_ID, "domain": "shop-test"},
        "response_url": standin.response_url(),
        "actions": [
            {
                "type": "button",
                "action_id": element["action_id"],
                "block_id": "b1",
                "value": element.get("value", ""),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


async def test_one_slack_alert_per_missed_call_claimed_then_closed_by_a_call_back(
    wired: App,
    standin: SlackStandIn,
    slack_client: SlackClient,
    phone: Phone,
    asterisk: Sandbox,
) -> None:
    await phone.add_member("sales", SILENT, "Silent Sue")
    await phone.call("sales", ZOE, patience=60, timeout=7)  # times out
    await phone.call("sales", BOB, patience=3)  # abandons

    await eventually(lambda: len(alerts_in(standin, SALES_CHANNEL)) >= 2, within=15)
    await asyncio.sleep(1.5)
    posted = standin.calls_to("chat.postMessage")
    missed = [c for c in posted if str(c.args.get("text", "")).startswith("Missed")]
    assert len(missed) == 2

    zoe_ts, zoe = next(
        (ts, m) for ts, m in alerts_in(standin, SALES_CHANNEL) if "Zoë" in m["text"]
    )
    bob_ts, bob = next(
        (ts, m) for ts, m in alerts_in(standin, SALES_CHANNEL) if "Bob" in m["text"]
    )
    assert "+44 20 7183 8750 (Zoë Ångström)" in text_of(zoe)
    assert "Silent Sue (no answer)" in text_of(zoe)
    assert any(f"after {s} s" in zoe["text"] for s in (6, 7, 8))
    assert "(202) 555-0100 (Bob Abandoner) hung up after waiting" in bob["text"]

    # Ana claims the call-back for Zoë: the message shows who
    status, _ = await slack_client.button(
        click(standin, ANA, SALES_CHANNEL, zoe_ts, button(zoe, "I'll call back"))
    )
    assert status == 200
    await eventually(
        lambda: "is calling back" in text_of(standin.messages[(SALES_CHANNEL, zoe_ts)]),
        within=5,
    )
    claimed = text_of(standin.messages[(SALES_CHANNEL, zoe_ts)])
    assert "Ana Lima" in claimed and "I'll call back" not in claimed

    # Zoë calls again and Ben answers: the alert closes
    assert (await say(wired, "ben@shop.test", "joinqueue sales")).ok
    await eventually(lambda: "Ben Okafor" in members(asterisk, "sales"), within=5)
    await phone.call("sales", ZOE, patience=30, talk=1)
    await eventually(
        lambda: "Closed" in text_of(standin.messages[(SALES_CHANNEL, zoe_ts)]),
        within=10,
    )
    closed = text_of(standin.messages[(SALES_CHANNEL, zoe_ts)])
    assert "Ben Okafor" in closed and "Called back" not in closed
    assert "I'll call back" in text_of(standin.messages[(SALES_CHANNEL, bob_ts)])
    assert len(alerts_in(standin, SALES_CHANNEL)) == 2  # the answered call: none

    # "No need" on Bob's alert, by Ben; a second click answers only Ben
    status, _ = await slack_client.button(
        click(standin, BEN, SALES_CHANNEL, bob_ts, button(bob, "No need"))
    )
    assert status == 200
    await eventually(
        lambda: "no need" in text_of(standin.messages[(SALES_CHANNEL, bob_ts)]),
        within=5,
    )
