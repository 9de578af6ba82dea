"""The App Home tab: published on open, its buttons work, republished on change."""

from __future__ import annotations

from typing import Any

from bot.app import App
from bot.domain import Layer
from bot.messages import Reply
from bot.protocols import MessageRef
from integrations.slack.app import SlackFrontEnd
from sandbox.asterisk import Sandbox
from tests.conftest import eventually, members
from tests.integrations.slack.conftest import ANA, BEN, CLEO, EVE, SlackClient
from tests.integrations.slack.standin import SlackStandIn, block_problems


def buttons(view: dict[str, Any]) -> dict[str, str]:
    """Button label -> action_id in a published view."""
    return {
        element["text"]["text"]: element["action_id"]
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


def button_value(view: dict[str, Any], label: str) -> str:
    for block in view["blocks"]:
        for element in block.get("elements", ()):
            if element["type"] == "button" and element["text"]["text"] == label:
                return str(element.get("value", ""))
    raise AssertionError(f"no button {label!r}")


def text_of(view: dict[str, Any]) -> str:
    parts = []
    for block in view["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        for item in block.get("fields", []) + block.get("elements", []):
            if item.get("type") == "mrkdwn":
                parts.append(item["text"])
    return "\n".join(parts)


async def open_home(client: SlackClient, standin: SlackStandIn, user: str) -> dict:
    publishes = len(standin.calls_to("views.publish"))
    event = standin.event(
        {
            "type": "app_home_opened",
            "user": user,
            "channel": "D" + user[1:],
            "tab": "home",
        }
    )
    status, _ = await client.event(event)
    assert status == 200
    await eventually(lambda: len(standin.calls_to("views.publish")) > publishes, 5)
    return standin.views[user]


async def press(
    client: SlackClient, standin: SlackStandIn, user: str, label: str
) -> dict[str, Any]:
    view = standin.views[user]
    before = len(standin.calls_to("views.publish"))
    payload = standin.home_button(user, buttons(view)[label], button_value(view, label))
    status, _ = await client.button(payload)
    assert status == 200
    await eventually(lambda: len(standin.calls_to("views.publish")) > before, 5)
    await eventually(lambda: standin.views[user] is not view, 5)
    return standin.views[user]


async def test_home_shows_queues_pause_buttons_and_layers(
    slack_client: SlackClient, standin: SlackStandIn
) -> None:
    view = await open_home(slack_client, standin, ANA)

    assert view["type"] == "home"
    assert block_problems(view["blocks"], "home") == []
    labels = set(buttons(view))
    assert {"Join Sales", "Join Support", "Join Billing"} <= labels
    assert {
        "Pause 15 min",
        "Pause 30 min",
        "Pause 1 h",
        "Pause until I resume",
    } <= labels
    text = text_of(view)
    for layer in ("Manual", "Calendar", "Presence"):
        assert layer in text
    assert "Next change: nothing scheduled." in text


async def test_join_button_joins_in_asterisk_and_offers_leave(
    slack_client: SlackClient, standin: SlackStandIn, pbx: Sandbox
) -> None:
    await open_home(slack_client, standin, ANA)

    view = await press(slack_client, standin, ANA, "Join Sales")

    await eventually(lambda: "Ana Lima" in members(pbx, "sales"), 2)
    assert "Leave Sales" in buttons(view)
    assert "You're in sales" in text_of(view)


async def test_pause_buttons_pause_and_unpause(
    slack_client: SlackClient, standin: SlackStandIn, app: App, pbx: Sandbox
) -> None:
    await app.control.join(app.control.person("ana@shop.test"), ["sales"])
    await open_home(slack_client, standin, ANA)

    view = await press(slack_client, standin, ANA, "Pause 15 min")

    pause = app.control.effective_pause("ana@shop.test")
    assert pause is not None and pause.layer is Layer.MANUAL and pause.until
    await eventually(lambda: "paused" in members(pbx, "sales")["Ana Lima"].lower(), 2)
    assert "Unpause" in buttons(view)
    assert "your manual pause ends" in text_of(view)

    view = await press(slack_client, standin, ANA, "Unpause")

    assert app.control.effective_pause("ana@shop.test") is None
    assert "Unpause" not in buttons(view)


async def test_home_is_republished_when_someone_else_changes_state(
    slack_client: SlackClient, standin: SlackStandIn
) -> None:
    await open_home(slack_client, standin, BEN)
    before = len(
        [c for c in standin.calls_to("views.publish") if c.args["user_id"] == BEN]
    )
    fields = standin.slash_command(CLEO, "/pause", f"<@{BEN}|ben> lunch")

    await slack_client.command(fields)

    await eventually(
        lambda: (
            len(
                [
                    c
                    for c in standin.calls_to("views.publish")
                    if c.args["user_id"] == BEN
                ]
            )
            > before
        ),
        5,
    )
    assert "paused (lunch)" in text_of(standin.views[BEN])


async def test_forged_button_value_changes_nothing(
    slack_client: SlackClient, standin: SlackStandIn, app: App
) -> None:
    view = await open_home(slack_client, standin, ANA)
    forged = standin.home_button(ANA, buttons(view)["Join Sales"], "sales; billing")

    status, _ = await slack_client.button(forged)

    assert status == 200
    assert app.store.memberships("ana@shop.test") == []


async def test_stranger_sees_who_to_ask_on_home(
    slack_client: SlackClient, standin: SlackStandIn
) -> None:
    view = await open_home(slack_client, standin, EVE)

    assert "not in ccbot's people list" in text_of(view)
    assert "Join Sales" not in buttons(view)


async def test_message_button_reaches_the_handler_registered_for_it(
    slack: SlackFrontEnd, slack_client: SlackClient, standin: SlackStandIn
) -> None:
    seen: list[tuple[str, str, MessageRef | None]] = []

    async def claim(email: str, value: str, ref: MessageRef | None) -> Reply:
        seen.append((email, value, ref))
        return Reply(text="You're calling +1 555 0100 back.")

    slack.actions["calls.claim"] = claim
    payload = standin.home_button(ANA, "calls.claim#0", "call-7")
    payload["container"] = {
        "type": "message",
        "channel_id": "C0SALES",
        "message_ts": "1700000000.000100",
    }
    payload["channel"] = {"id": "C0SALES"}
    payload["response_url"] = standin.response_url()

    status, _ = await slack_client.button(payload)

    assert status == 200
    await eventually(lambda: bool(standin.responses_at(payload["response_url"])), 5)
    assert seen == [
        ("ana@shop.test", "call-7", MessageRef("slack:C0SALES", "1700000000.000100"))
    ]
    answer = standin.responses_at(payload["response_url"])[0]
    assert answer["response_type"] == "ephemeral" and "calling" in answer["text"]
