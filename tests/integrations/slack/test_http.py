"""Slash commands over real HTTP: signed the way Slack signs them, answered at
the response URL, on the real Asterisk sandbox."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bot.app import App
from integrations.slack.app import EVENTS_PATH, SlackFrontEnd
from sandbox.asterisk import Sandbox
from tests.conftest import eventually, members
from tests.integrations.slack.conftest import (
    ADMIN,
    ANA,
    BEN,
    CLEO,
    EVE,
    SlackClient,
)
from tests.integrations.slack.standin import SlackStandIn, form_body, sign


async def test_signed_command_reaches_asterisk_and_replies_at_response_url(
    slack_client: SlackClient, standin: SlackStandIn, pbx: Sandbox
) -> None:
    fields = standin.slash_command(ANA, "/joinqueue", "sales")

    began = time.monotonic()
    status, body = await slack_client.command(fields)
    acked = time.monotonic() - began

    assert status == 200 and body == ""
    assert acked < 1.0
    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    reply = standin.responses_at(fields["response_url"])[0]
    assert reply["response_type"] == "ephemeral"
    assert "You're in sales" in reply["text"]
    assert "Calls will ring now" in reply["blocks"][0]["text"]["text"]
    assert "Ana Lima" in members(pbx, "sales")


async def test_bad_signature_gets_401_and_changes_nothing(
    slack_client: SlackClient, standin: SlackStandIn, app: App, pbx: Sandbox
) -> None:
    fields = standin.slash_command(ANA, "/joinqueue", "sales")
    body = form_body(fields)
    headers = sign(body, secret="not-the-signing-secret")

    status, _ = await slack_client.send(
        body, headers, "application/x-www-form-urlencoded"
    )

    assert status == 401
    assert app.store.memberships("ana@shop.test") == []
    assert standin.responses_at(fields["response_url"]) == []
    assert "Ana Lima" not in members(pbx, "sales")


async def test_timestamp_older_than_five_minutes_gets_401(
    slack_client: SlackClient, standin: SlackStandIn, app: App
) -> None:
    fields = standin.slash_command(ANA, "/pause", "lunch")
    body = form_body(fields)
    headers = sign(body, timestamp=int(time.time()) - 6 * 60)

    status, _ = await slack_client.send(
        body, headers, "application/x-www-form-urlencoded"
    )

    assert status == 401
    assert app.store.pauses("ana@shop.test") == []


async def test_retried_delivery_is_not_applied_twice(
    slack_client: SlackClient, standin: SlackStandIn, app: App
) -> None:
    fields = standin.slash_command(ANA, "/pause", "lunch for 30m")

    first = await slack_client.command(fields)
    retry = await slack_client.command(
        fields, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )

    assert first[0] == retry[0] == 200
    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    await app.control.unpause(app.control.person("ana@shop.test"))
    again = await slack_client.command(fields, **{"X-Slack-Retry-Num": "2"})
    assert again[0] == 200
    assert len(standin.responses_at(fields["response_url"])) == 1
    assert app.store.pauses("ana@shop.test") == []  # the retry paused no one


async def test_retry_after_a_restart_is_still_not_applied(
    app: App, standin: SlackStandIn, slack_client: SlackClient
) -> None:
    fields = standin.slash_command(BEN, "/pause", "training")
    await slack_client.command(fields)
    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    await app.control.unpause(app.control.person("ben@shop.test"))

    # ccbot started again on the same store file, with its own web server.
    restarted = App(app.config)
    await restarted.start_front_ends()
    try:
        assert restarted.web is not None
        async with aiohttp.ClientSession() as session:
            client = SlackClient(
                f"http://127.0.0.1:{restarted.web.port}{EVENTS_PATH}", session
            )
            status, _ = await client.command(fields, **{"X-Slack-Retry-Num": "3"})
        assert status == 200
        await asyncio.sleep(0.5)
        assert len(standin.responses_at(fields["response_url"])) == 1
        assert restarted.store.pauses("ben@shop.test") == []
    finally:
        await restarted.close()


async def test_public_command_is_posted_in_channel(
    slack_client: SlackClient, standin: SlackStandIn
) -> None:
    fields = standin.slash_command(ANA, "/queues")

    await slack_client.command(fields)

    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    reply = standin.responses_at(fields["response_url"])[0]
    assert reply["response_type"] == "in_channel"
    assert "queues" in reply["text"]
    shown = "\n".join(b["text"]["text"] for b in reply["blocks"] if "text" in b)
    assert "*Sales*" in shown and "Static Sam" in shown


async def test_stranger_is_refused_politely_with_who_to_ask(
    slack_client: SlackClient, standin: SlackStandIn, app: App
) -> None:
    fields = standin.slash_command(EVE, "/joinqueue", "sales")

    await slack_client.command(fields)

    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    reply = standin.responses_at(fields["response_url"])[0]
    assert reply["response_type"] == "ephemeral"
    assert "not in ccbot's people list" in reply["text"]
    assert ADMIN in reply["text"]
    assert "Traceback" not in reply["text"]
    assert app.store.memberships() == []


async def test_manager_pauses_someone_by_mention(
    slack_client: SlackClient, standin: SlackStandIn, app: App, pbx: Sandbox
) -> None:
    await app.control.join(app.control.person("ben@shop.test"), ["sales"])
    fields = standin.slash_command(CLEO, "/pause", f"<@{BEN}|ben> lunch for 30m")

    await slack_client.command(fields)

    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    reply = standin.responses_at(fields["response_url"])[0]
    assert "Ben Okafor is paused in sales" in reply["text"]
    assert "lunch" in members(pbx, "sales")["Ben Okafor"]


async def test_non_manager_cannot_pause_someone_else(
    slack_client: SlackClient, standin: SlackStandIn, app: App
) -> None:
    fields = standin.slash_command(ANA, "/pause", f"<@{BEN}|ben> lunch")

    await slack_client.command(fields)

    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    reply = standin.responses_at(fields["response_url"])[0]
    assert "Only managers" in reply["text"]
    assert app.store.pauses("ben@shop.test") == []


async def test_email_match_is_saved_and_cached(
    slack_client: SlackClient, standin: SlackStandIn, app: App
) -> None:
    for _ in range(2):
        fields = standin.slash_command(BEN, "/myqueues")
        await slack_client.command(fields)
        await eventually(
            lambda f=fields: bool(standin.responses_at(f["response_url"])), 5
        )

    infos = [c for c in standin.calls_to("users.info") if c.args.get("user") == BEN]
    assert len(infos) == 1  # Ben@Shop.test matched once, case-insensitively
    person = app.store.get_person("ben@shop.test")
    assert person is not None and person.slack_id == BEN


async def test_help_lists_every_command(
    slack_client: SlackClient, standin: SlackStandIn
) -> None:
    fields = standin.slash_command(ANA, "/ccbot")

    await slack_client.command(fields)

    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    text = standin.responses_at(fields["response_url"])[0]["blocks"][0]["text"]["text"]
    for name in ("joinqueue", "leavequeue", "pause", "unpause", "queues", "whoison"):
        assert f"/{name}" in text
    assert "`/myqueues`" in text and "`/ccbot [COMMAND]`" in text
    assert "`/me`" not in text and "`/help" not in text


async def test_healthz_answers_beside_the_events_endpoint(
    app: App, slack: SlackFrontEnd
) -> None:
    assert app.web is not None
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{app.web.port}/healthz") as response,
    ):
        assert response.status == 200
        assert (await response.json())["ok"] is True


async def test_mention_of_someone_not_in_the_list_says_who_to_ask(
    slack_client: SlackClient, standin: SlackStandIn, app: App
) -> None:
    fields = standin.slash_command(CLEO, "/pause", f"<@{EVE}|eve> lunch")

    await slack_client.command(fields)

    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    text = standin.responses_at(fields["response_url"])[0]["text"]
    assert "I can't find @eve in ccbot's people list" in text and ADMIN in text
    assert app.store.pauses("cleo@shop.test") == []
