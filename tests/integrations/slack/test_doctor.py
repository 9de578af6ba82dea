"""`ccbot doctor`'s Slack checks against the stand-in, and the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import Config
from handlers.commands import REGISTRY
from integrations.slack.app import COMMANDS, NAMES
from integrations.slack.doctor import REQUIRED_SCOPES, check_slack
from tests.integrations.slack.conftest import BOT_ENV, SUPPORT_CHANNEL
from tests.integrations.slack.standin import SlackStandIn

MANIFEST = Path(__file__).resolve().parents[3] / "manifest.yml"


async def test_doctor_passes_token_and_reports_channel_the_bot_is_not_in(
    config: Config, standin: SlackStandIn
) -> None:
    lines, problems = await check_slack(config)

    text = "\n".join(lines)
    assert "token works for workspace Shop" in text
    assert "every scope ccbot needs is granted" in text
    assert problems == 1
    assert f"slack:{SUPPORT_CHANNEL}" in text and "/invite @ccbot" in text
    assert standin.calls_to("auth.test")


async def test_doctor_names_missing_scopes(
    config: Config, standin: SlackStandIn
) -> None:
    standin.scopes = tuple(s for s in standin.scopes if s != "users:read.email")

    lines, problems = await check_slack(config)

    assert problems == 2
    assert any("users:read.email" in line and "reinstall" in line for line in lines)


async def test_doctor_reports_a_refused_token_without_showing_it(
    config: Config, standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BOT_ENV, "xoxb-wrong-token-123")

    lines, problems = await check_slack(config)

    assert problems == 1
    assert "invalid_auth" in lines[-1]
    assert "xoxb-wrong-token-123" not in "\n".join(lines)


def test_manifest_declares_every_command_scope_and_event() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())

    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {f"/{name}" for name in COMMANDS}
    # Every chat command is a slash command, under Slack's name for it.
    assert {NAMES.get(name, name) for name in REGISTRY} == set(COMMANDS)
    assert not {"/help", "/me"} & set(commands), "Slack reserves these"
    for command in commands.values():
        assert command["description"] and command["should_escape"] is True
        assert len(command["description"]) <= 100
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(REQUIRED_SCOPES)
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"]
