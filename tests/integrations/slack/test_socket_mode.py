"""Socket Mode: the same commands over Slack's WebSocket, no public URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import App
from integrations.slack.app import SlackFrontEnd
from sandbox.asterisk import Sandbox
from tests.conftest import eventually, members
from tests.integrations.slack.conftest import ANA
from tests.integrations.slack.standin import SlackStandIn


@pytest.fixture
async def socket_slack(app: App, standin: SlackStandIn) -> AsyncIterator[SlackFrontEnd]:
    assert app.config.settings.slack is not None
    settings = app.config.settings.slack.model_copy(update={"mode": "socket"})
    front = SlackFrontEnd(settings, app.control, app.commands, app.store)
    await front.start()
    await eventually(lambda: standin.socket_connected, 5)
    yield front
    await front.stop()


async def test_slash_command_over_socket_mode_is_acked_and_applied(
    socket_slack: SlackFrontEnd, standin: SlackStandIn, pbx: Sandbox
) -> None:
    fields = standin.slash_command(ANA, "/joinqueue", "support")

    ack = await standin.send_envelope("slash_commands", fields, within=3)

    assert "envelope_id" in ack
    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    assert (
        "You're in support" in standin.responses_at(fields["response_url"])[0]["text"]
    )
    assert "Ana Lima" in members(pbx, "support")
    assert standin.calls_to("apps.connections.open")


async def test_redelivered_envelope_is_not_applied_twice(
    socket_slack: SlackFrontEnd, standin: SlackStandIn
) -> None:
    fields = standin.slash_command(ANA, "/myqueues")

    await standin.send_envelope("slash_commands", fields)
    await standin.send_envelope("slash_commands", fields)

    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 5)
    await asyncio.sleep(0.3)
    assert len(standin.responses_at(fields["response_url"])) == 1


async def test_refused_app_token_leaves_ccbot_running(
    app: App, standin: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    assert app.config.settings.slack is not None
    settings = app.config.settings.slack.model_copy(update={"mode": "socket"})
    standin.app_token = "xapp-some-other-token"
    front = SlackFrontEnd(settings, app.control, app.commands, app.store)

    await front.start()

    assert not standin.socket_connected
    assert "refused the app-level token (invalid_auth)" in caplog.text
    assert "xapp-" not in caplog.text.replace("(xapp-…)", "")
    await front.stop()
