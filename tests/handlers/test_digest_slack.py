"""`ccbot digest --post` through the Slack adapter to the stand-in Slack server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.calls import CallDb, CallTracker
from bot.cli_digest import print_digests
from bot.config import Config
from bot.control import Control
from bot.store import Store
from tests.bot.test_kpi import spring_day, utc
from tests.integrations.slack import conftest as slack_fixtures
from tests.integrations.slack.conftest import SALES_CHANNEL
from tests.integrations.slack.standin import SlackStandIn

standin = slack_fixtures.standin
slack_workspace = slack_fixtures.workspace


@pytest.fixture
def workspace(slack_workspace: Path) -> Path:
    toml = slack_workspace / "ccbot.toml"
    text = toml.read_text().replace(
        'display_name = "Sales"\n',
        f'display_name = "Sales"\ndigest_channels = ["slack:{SALES_CHANNEL}"]\n',
    )
    toml.write_text(text + '\n[digest]\ntimezone = "Europe/Lisbon"\n')
    return slack_workspace


@pytest.fixture
async def recorded_day(config: Config) -> AsyncIterator[Config]:
    store = Store(config.store_path)
    tracker = CallTracker(
        config,
        CallDb(config.store_path),
        Control(config, store, {}).person_for_interface,
        clock=lambda: utc(2026, 3, 30, 12),
    )
    await spring_day(tracker)
    await tracker.close()
    tracker.db.close()
    store.close()
    yield config


async def test_posted_digest_reaches_slack_with_its_chart(
    recorded_day: Config, standin: SlackStandIn
) -> None:
    printed: list[str] = []

    ok = await print_digests(
        recorded_day, ["sales"], date(2026, 3, 29), None, None, True, printed.append
    )

    assert ok
    assert "Sales digest for Sunday 29 March 2026" in printed[0]
    [post] = standin.calls_to("chat.postMessage")
    assert post.args["channel"] == SALES_CHANNEL
    assert str(post.args["text"]).startswith("Sales digest for Sunday 29 March 2026")
    [upload] = standin.uploads.values()
    assert upload["title"] == "Sales: calls per hour, 2026-03-29"
    assert upload["channel"] == SALES_CHANNEL
    assert upload["filename"] == "sales-2026-03-29.png"
    assert upload["content"].startswith(b"\x89PNG")
