"""The digest: sent at its local time, once, caught up after downtime; the CLI."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import config as config_module
from bot.calls import CallDb, CallTracker
from bot.cli import main
from bot.config import Config
from bot.control import Control
from bot.store import Store
from handlers.digest import DigestSender
from scheduler.digest import DigestJobs, last_due
from scheduler.jobs import Scheduler
from tests.bot.test_kpi import spring_day, utc
from tests.handlers.test_alerts_asterisk import RecordingChat

LISBON = "Europe/Lisbon"


@pytest.fixture
def workspace(workspace: Path) -> Path:
    toml = workspace / "ccbot.toml"
    text = toml.read_text().replace(
        'display_name = "Sales"\n',
        'display_name = "Sales"\ndigest_channels = ["slack:C0BOSS"]\n'
        'digest_people = ["cleo@shop.test"]\n',
    )
    toml.write_text(
        text + f'\n[digest]\ntime = "07:30"\ntimezone = "{LISBON}"\n'
        'report = "yesterday"\n'
    )
    return workspace


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


def test_digest_time_follows_the_local_clock_across_daylight_saving() -> None:
    # 07:30 Lisbon is 07:30 UTC in winter and 06:30 UTC in summer
    assert last_due(
        datetime(2026, 3, 28, 7, 29, tzinfo=UTC), "07:30", LISBON, "yesterday"
    ) == date(2026, 3, 26)
    assert last_due(
        datetime(2026, 3, 28, 7, 31, tzinfo=UTC), "07:30", LISBON, "yesterday"
    ) == date(2026, 3, 27)
    assert last_due(
        datetime(2026, 3, 30, 6, 31, tzinfo=UTC), "07:30", LISBON, "yesterday"
    ) == date(2026, 3, 29)
    assert last_due(
        datetime(2026, 3, 30, 6, 29, tzinfo=UTC), "07:30", LISBON, "today"
    ) == date(2026, 3, 29)


async def test_digest_missed_while_down_is_sent_once_when_back(
    recorded_day: Config,
) -> None:
    config = recorded_day
    chat = RecordingChat()
    store = Store(config.store_path)
    sender = DigestSender(config, CallDb(config.store_path), chat, store.get_person)
    jobs = DigestJobs(
        Scheduler(),
        sender.send,
        _no_prune,
        "yesterday",
        "03:30",
        LISBON,
        sender.ever_sent,
    )
    back = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)  # down at 07:30, back at 10:00
    assert await jobs.catch_up([("sales", "07:30", LISBON)], back) == []  # new
    assert await sender.send("sales", date(2026, 3, 28))  # ccbot ran that day
    chat.sent.clear()

    first = await jobs.catch_up([("sales", "07:30", LISBON)], back)
    again = await jobs.catch_up([("sales", "07:30", LISBON)], back)

    assert first == ["sales"] and again == []
    posts = [s for s in chat.sent if s.kind == "post"]
    assert [p.channel for p in posts] == ["slack:C0BOSS"]
    assert "Sales digest for Sunday 29 March 2026" in posts[0].message.text
    assert [s.kind for s in chat.sent] == ["post", "upload", "direct"]
    assert chat.sent[2].channel == "cleo@shop.test"
    sender.db.close()
    store.close()


async def _no_prune() -> None:
    return None


def test_ccbot_digest_prints_the_day_as_a_table(recorded_day: Config) -> None:
    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(recorded_day.path),
            "digest",
            "--queue",
            "sales",
            "--date",
            "2026-03-29",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Sales digest for Sunday 29 March 2026" in result.output
    assert "Service level (20 s)  40%" in result.output
    assert "Ana Lima" in result.output and "Ben Okafor" in result.output
    assert "Busiest hour" in result.output and "09:00 (4 calls)" in result.output


def test_ccbot_digest_over_a_span_and_on_an_empty_day(recorded_day: Config) -> None:
    span = CliRunner().invoke(
        main,
        [
            "--config",
            str(recorded_day.path),
            "digest",
            "--queue",
            "sales",
            "--from",
            "2026-03-22",
            "--to",
            "2026-03-29",
        ],
    )
    assert span.exit_code == 0, span.output
    assert "2026-03-22 to 2026-03-29" in span.output
    # 2 calls on the 22nd, 1 late on the 28th (Lisbon time), 6 on the 29th
    assert re.search(r"^Offered +9$", span.output, re.MULTILINE), span.output

    empty = CliRunner().invoke(
        main,
        [
            "--config",
            str(recorded_day.path),
            "digest",
            "--queue",
            "sales",
            "--date",
            "2026-03-25",
        ],
    )
    assert empty.exit_code == 0
    assert "No calls reached Sales on Wednesday 25 March 2026." in empty.output


def test_ccbot_digest_says_what_is_wrong_with_its_options(recorded_day: Config) -> None:
    path = str(recorded_day.path)
    bad_date = CliRunner().invoke(
        main, ["--config", path, "digest", "--date", "29/03/2026"]
    )
    both = CliRunner().invoke(
        main,
        [
            "--config",
            path,
            "digest",
            "--date",
            "2026-03-29",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-02",
        ],
    )
    queue = CliRunner().invoke(main, ["--config", path, "digest", "--queue", "nope"])

    assert bad_date.exit_code == 2 and "use YYYY-MM-DD" in bad_date.output
    assert both.exit_code == 2 and "either --date or --from/--to" in both.output
    assert queue.exit_code == 2 and "Queues: billing, sales, support" in queue.output
    assert config_module.load(path).settings.digest.timezone == LISBON


async def test_digest_and_prune_jobs_run_at_their_local_times() -> None:
    scheduler = Scheduler()
    jobs = DigestJobs(scheduler, _never_send, _no_prune, "yesterday", "03:30", LISBON)
    jobs.arm([("sales", "07:30", LISBON), ("support", "18:00", "America/New_York")])
    scheduler.start()
    try:
        sales = scheduler.apscheduler.get_job("digest:sales").next_run_time
        support = scheduler.apscheduler.get_job("digest:support").next_run_time
        prune = scheduler.apscheduler.get_job("retention:prune").next_run_time
    finally:
        scheduler.shutdown()
    assert (sales.hour, sales.minute, str(sales.tzinfo)) == (7, 30, LISBON)
    assert (support.hour, str(support.tzinfo)) == (18, "America/New_York")
    assert (prune.hour, prune.minute) == (3, 30)


async def _never_send(queue: str, day: date) -> bool:
    raise AssertionError("not due in this test")
