"""Phone numbers, transfers and retention in the call tracking core."""

from __future__ import annotations

import time

from bot.app import App
from bot.calls import (
    CallAnswered,
    CallCompleted,
    CallDb,
    CallerJoined,
    CallerLeft,
    CallRecord,
    CallTracker,
    CallTransferred,
    Outcome,
    format_number,
    mask,
    number_key,
)
from bot.config import CallsSettings, Config


def test_numbers_read_nationally_at_home_and_internationally_abroad() -> None:
    us = CallsSettings(default_region="US")
    assert format_number("+12025550100", us) == "(202) 555-0100"
    assert format_number("2025550100", us) == "(202) 555-0100"
    assert format_number("+442071838750", us) == "+44 20 7183 8750"
    assert format_number("<unknown>", us) == "a hidden number"
    assert format_number("", us) == "a hidden number"
    assert format_number("ext. 9000", us) == "ext. 9000"  # not a number: as given


def test_masking_keeps_the_country_code_and_the_last_digits() -> None:
    masked = CallsSettings(default_region="US", mask_numbers=True, visible_digits=4)
    assert format_number("+442071838750", masked) == "+44 •• •••• 8750"
    assert format_number("+12025550100", masked) == "(•••) •••-0100"
    assert mask("912 345 678", 0) == "••• ••• •••"


def test_the_same_number_written_two_ways_has_one_key() -> None:
    assert number_key("+351 912 345 678", "PT") == number_key("912345678", "PT")
    assert number_key("+351 912 345 678", "PT") == "+351912345678"
    assert number_key("anonymous", "PT") == ""  # hidden numbers never match
    assert number_key("2001", "PT") == "2001"  # an extension, as given


async def test_a_transferred_call_keeps_its_talk_time(config: Config) -> None:
    tracker = CallTracker(config, CallDb(config.store_path))
    settled: list[CallRecord] = []
    tracker.on_settled.append(settled.append)
    for event in (
        CallerJoined("main", "9.1", "sales", "+12025550100", "Ann", 100.0),
        CallAnswered("main", "9.1", "sales", "Local/2001@agents/n", "Ana", 4, 104.0),
        CallTransferred("main", "9.1", 150.0),
        CallCompleted("main", "9.1", "sales", 46, False, 150.0),
    ):
        tracker.handle(event)
    await tracker.close()
    tracker.db.close()

    [record] = settled
    assert (record.outcome, record.wait, record.talk) == (Outcome.TRANSFERRED, 4, 46)


async def test_nightly_prune_forgets_calls_past_retention(config: Config) -> None:
    app = App(config)
    now = time.time()
    old, recent = now - 91 * 86400, now - 89 * 86400
    for uid, at in (("old", old), ("recent", recent)):
        app.calls.handle(CallerJoined("main", uid, "sales", "+12025550100", "", at))
        app.calls.handle(
            CallerLeft("main", uid, "sales", Outcome.ABANDONED, 10, at + 10)
        )
    await app.calls.flush()

    await app.prune_calls()  # [store] retention_days defaults to 90

    left = app.calls.db.run(
        lambda c: c.execute("SELECT uniqueid FROM calls").fetchall()
    )
    assert [row[0] for row in left] == ["recent"]
    await app.close()
