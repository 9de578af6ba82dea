"""Slack fixtures: the stand-in Web API, a workspace that points ccbot at it,
and ccbot's Slack front end served over real HTTP.

Tests elsewhere can reuse them: `from tests.integrations.slack.conftest import
standin, configure_slack` gives the stand-in fixture and the function that
points a workspace at it (this folder overrides `workspace` with it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import App
from integrations.slack.app import EVENTS_PATH, SlackFrontEnd
from tests.integrations.slack.standin import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackStandIn,
    action_body,
    form_body,
    sign,
)

BOT_ENV, APP_ENV, SECRET_ENV = (
    "CCBOT_TEST_SLACK_BOT",
    "CCBOT_TEST_SLACK_APP",
    "CCBOT_TEST_SLACK_SECRET",
)
ANA, BEN, CLEO, SAM, EVE = "U0ANA", "U0BEN", "U0CLEO", "U0SAM", "U0EVE"
SALES_CHANNEL, SUPPORT_CHANNEL = "C0SALES", "C0SUPPORT"
ADMIN = "Cleo Park in #it-help"


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    """Slack on 127.0.0.1 with the test people as users and two channels."""
    slack = SlackStandIn()
    await slack.start()
    slack.add_user(ANA, "ana@shop.test", "Ana Lima")
    slack.add_user(BEN, "Ben@Shop.test", "Ben Okafor")
    slack.add_user(CLEO, "cleo@shop.test", "Cleo Park")
    slack.add_user(SAM, "sam@shop.test", "Static Sam")
    slack.add_user(EVE, "eve@elsewhere.test", "Eve Stranger")
    slack.add_channel(SALES_CHANNEL, "sales-calls")
    slack.add_channel(SUPPORT_CHANNEL, "support-calls", is_member=False)
    yield slack
    await slack.stop()


def slack_section(api_url: str, mode: str = "http") -> str:
    return f"""
[slack]
mode = "{mode}"
api_base_url = "{api_url}"
bot_token_env = "{BOT_ENV}"
app_token_env = "{APP_ENV}"
signing_secret_env = "{SECRET_ENV}"
admin_contact = "{ADMIN}"
rate_limit_retries = 2

[web]
host = "127.0.0.1"
port = 0
"""


def configure_slack(
    workspace: Path, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point a workspace's ccbot.toml at the stand-in: a [slack] section in
    HTTP mode, [web] on a free port, and queue channels for sales/support."""
    monkeypatch.setenv(BOT_ENV, BOT_TOKEN)
    monkeypatch.setenv(APP_ENV, APP_TOKEN)
    monkeypatch.setenv(SECRET_ENV, SIGNING_SECRET)
    path = workspace / "ccbot.toml"
    text = path.read_text()
    text = text.replace(
        'display_name = "Sales"',
        f'display_name = "Sales"\nchannels = ["slack:{SALES_CHANNEL}"]',
    ).replace(
        'display_name = "Support"',
        f'display_name = "Support"\nchannels = ["slack:{SUPPORT_CHANNEL}"]',
    )
    path.write_text(text + slack_section(standin.api_url))
    return workspace


@pytest.fixture
def workspace(
    workspace: Path, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The shared workspace, with Slack pointed at the stand-in."""
    return configure_slack(workspace, standin, monkeypatch)


@dataclass
class SlackClient:
    """Sends requests to ccbot the way Slack does, over real HTTP."""

    url: str
    session: aiohttp.ClientSession

    async def send(
        self, body: str, headers: dict[str, str], content_type: str
    ) -> tuple[int, str]:
        headers = {"Content-Type": content_type, **headers}
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            return resp.status, await resp.text()

    async def command(
        self, fields: dict[str, str], **extra_headers: str
    ) -> tuple[int, str]:
        body = form_body(fields)
        return await self.send(
            body, {**sign(body), **extra_headers}, "application/x-www-form-urlencoded"
        )

    async def button(self, payload: dict[str, Any]) -> tuple[int, str]:
        body = action_body(payload)
        return await self.send(body, sign(body), "application/x-www-form-urlencoded")

    async def event(self, payload: dict[str, Any], **extra: str) -> tuple[int, str]:
        import json

        body = json.dumps(payload)
        return await self.send(body, {**sign(body), **extra}, "application/json")


@pytest.fixture
async def slack(app: App) -> AsyncIterator[SlackFrontEnd]:
    """ccbot's Slack front end in HTTP mode on its own web server."""
    await app.start_front_ends()
    assert app.slack is not None and app.web is not None
    yield app.slack


@pytest.fixture
async def slack_client(app: App, slack: SlackFrontEnd) -> AsyncIterator[SlackClient]:
    assert app.web is not None
    async with aiohttp.ClientSession() as session:
        yield SlackClient(f"http://127.0.0.1:{app.web.port}{EVENTS_PATH}", session)
