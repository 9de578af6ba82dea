"""KPIs for fixture days, checked against figures worked out by hand."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest

from bot import kpi
from bot.calls import (
    CallAnswered,
    CallCompleted,
    CallDb,
    CallerJoined,
    CallerLeft,
    CallTracker,
    MemberPaused,
    Outcome,
    RingUnanswered,
    queue_rules,
)
from bot.config import Config
from bot.control import Control
from bot.messages import render_text
from bot.store import Store
from handlers.digest import build_digest, render_chart, render_digest

LISBON = "Europe/Lisbon"
SPRING = date(2026, 3, 29)  # Lisbon moves from UTC+0 to UTC+1 at 01:00 UTC
ANA = "Local/2001@from-queue/n"
BEN = "Local/2002@from-queue/n"


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


@pytest.fixture
async def tracker(config: Config) -> AsyncIterator[CallTracker]:
    store = Store(config.store_path)
    control = Control(config, store, {})
    tracked = CallTracker(
        config,
        CallDb(config.store_path),
        control.person_for_interface,
        clock=lambda: utc(2026, 3, 30, 12),
    )
    yield tracked
    await tracked.close()
    tracked.db.close()
    store.close()


class Calls:
    """Feeds the tracker the events of whole calls, as the AMI mapping would."""

    def __init__(self, tracker: CallTracker) -> None:
        self.tracker = tracker
        self.serial = 0

    def _join(self, at: float, number: str) -> str:
        self.serial += 1
        uid = f"1000.{self.serial}"
        self.tracker.handle(CallerJoined("main", uid, "sales", number, "", at))
        return uid

    def answered(
        self, at: float, wait: int, talk: int, agent: str, member: str
    ) -> None:
        uid = self._join(at, "+351912345678")
        self.tracker.handle(
            CallAnswered("main", uid, "sales", agent, member, wait, at + wait)
        )
        self.tracker.handle(
            CallCompleted("main", uid, "sales", talk, False, at + wait + talk)
        )

    def left(self, at: float, wait: int, outcome: Outcome) -> str:
        uid = self._join(at, "+351912345678")
        self.tracker.handle(CallerLeft("main", uid, "sales", outcome, wait, at + wait))
        return uid


async def spring_day(tracker: CallTracker) -> None:
    calls = Calls(tracker)
    calls.answered(utc(2026, 3, 28, 23, 59), 5, 50, ANA, "Ana")  # the day before
    calls.answered(utc(2026, 3, 29, 0, 30), 10, 100, ANA, "Ana")  # 00:30 WET
    calls.answered(utc(2026, 3, 29, 1, 15), 30, 200, BEN, "Ben")  # 02:15 WEST
    calls.left(utc(2026, 3, 29, 8, 0), 3, Outcome.ABANDONED)  # 09:00, short
    calls.left(utc(2026, 3, 29, 8, 10), 40, Outcome.ABANDONED)
    uid = calls.left(utc(2026, 3, 29, 8, 20), 60, Outcome.UNANSWERED)
    tracker.handle(
        RingUnanswered(
            "main", uid, "sales", ANA, "Ana", 15000, utc(2026, 3, 29, 8, 20, 15)
        )
    )
    calls.answered(utc(2026, 3, 29, 8, 40), 20, 60, ANA, "Ana")  # exactly 20 s
    calls.answered(utc(2026, 3, 29, 23, 0), 5, 50, ANA, "Ana")  # next day 00:00 WEST
    # a week earlier, the same weekday: two answered calls
    calls.answered(utc(2026, 3, 22, 10, 0), 5, 30, ANA, "Ana")
    calls.answered(utc(2026, 3, 22, 11, 0), 5, 30, BEN, "Ben")
    # Ben paused since the evening before until 00:45 UTC; Ana at lunch 12:00-12:30
    for interface, paused, reason, at in (
        (BEN, True, "meeting", utc(2026, 3, 28, 23, 0)),
        (BEN, False, "", utc(2026, 3, 29, 0, 45)),
        (ANA, True, "lunch", utc(2026, 3, 29, 11, 0)),
        (ANA, False, "", utc(2026, 3, 29, 11, 30)),
    ):
        tracker.handle(MemberPaused("main", "sales", interface, "", paused, reason, at))
    await tracker.flush()


def conn(config: Config) -> sqlite3.Connection:
    return sqlite3.connect(config.store_path)


async def test_spring_forward_day_kpis_match_the_hand_count(
    tracker: CallTracker, config: Config
) -> None:
    await spring_day(tracker)
    start, end = kpi.day_window(SPRING, LISBON)
    assert end - start == 23 * 3600

    k = kpi.queue_kpis(conn(config), "sales", start, end, 20, 5)

    assert (k.offered, k.answered, k.abandoned, k.short_abandons, k.unanswered) == (
        6,
        3,
        2,
        1,
        1,
    )
    assert k.within_threshold == 2  # 10 s and exactly 20 s
    assert k.service_level == pytest.approx(2 / 5)  # short abandon left out
    assert k.asa == pytest.approx(20.0)  # (10 + 30 + 20) / 3
    assert k.aht == pytest.approx(120.0)  # (100 + 200 + 60) / 3
    assert k.longest_wait == 60


async def test_spring_forward_day_has_23_local_hours(
    tracker: CallTracker, config: Config
) -> None:
    await spring_day(tracker)
    hours = kpi.buckets(conn(config), "sales", kpi.hour_buckets(SPRING, LISBON))

    assert len(hours) == 23
    assert [h.label for h in hours[:3]] == ["00:00", "02:00", "03:00"]
    busy = {h.label: (h.offered, h.answered, h.missed) for h in hours if h.offered}
    assert busy == {"00:00": (1, 1, 0), "02:00": (1, 1, 0), "09:00": (4, 1, 3)}


def test_fall_back_day_has_25_local_hours_with_the_repeated_one_named() -> None:
    hours = kpi.hour_buckets(date(2026, 10, 25), LISBON)
    assert len(hours) == 25
    assert [h[0] for h in hours[:3]] == ["00:00", "01:00", "01:00 (2nd)"]


async def test_per_agent_answered_talk_missed_rings_and_pauses(
    tracker: CallTracker, config: Config
) -> None:
    await spring_day(tracker)
    start, end = kpi.day_window(SPRING, LISBON)
    agents = {a.agent: a for a in kpi.agents(conn(config), "sales", start, end, end)}

    ana, ben = agents["ana@shop.test"], agents["ben@shop.test"]
    assert (ana.name, ana.answered, ana.talk, ana.missed_rings) == (
        "Ana Lima",
        2,
        160,
        1,
    )
    assert ana.paused == {"lunch": pytest.approx(1800)}
    assert (ben.answered, ben.talk, ben.missed_rings) == (1, 200, 0)
    assert ben.paused == {"meeting": pytest.approx(2700)}  # from midnight to 00:45


async def test_digest_compares_with_the_same_weekday_last_week(
    tracker: CallTracker, config: Config
) -> None:
    await spring_day(tracker)
    rules = dataclasses.replace(queue_rules(config, "sales"), digest_timezone=LISBON)
    digest = build_digest(conn(config), rules, SPRING, now=utc(2026, 3, 30))

    assert digest.previous.offered == 2
    assert digest.busiest is not None and digest.busiest.label == "09:00"
    text = render_text(render_digest(digest))
    assert "Sales digest for Sunday 29 March 2026" in text
    assert "Offered" in text and "6 (+4)" in text
    assert "40%" in text
    assert "Ana Lima" in text and "lunch 30 min" in text
    png = render_chart(digest)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


async def test_a_day_without_calls_reads_sensibly(
    tracker: CallTracker, config: Config
) -> None:
    await spring_day(tracker)
    rules = dataclasses.replace(queue_rules(config, "sales"), digest_timezone=LISBON)
    digest = build_digest(conn(config), rules, date(2026, 3, 25))

    text = render_text(render_digest(digest))
    assert digest.kpis.offered == 0
    assert "No calls reached Sales on Wednesday 25 March 2026." in text
    assert "%" not in text  # no service level of nothing
