"""The calendar and presence rules: which intervals pause, when, and why."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.availability import Block, blocks, judge, presence_reason, working_periods
from bot.config import CalendarSettings, parse
from bot.errors import ConfigError
from bot.protocols import (
    BusyInterval,
    FreeBusy,
    PersonCalendar,
    PresenceReading,
    WorkingHours,
)

DAY = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


def meeting(
    start: float,
    end: float,
    status: FreeBusy = FreeBusy.BUSY,
    subject: str = "Budget review",
    private: bool = False,
) -> BusyInterval:
    return BusyInterval(at(start), at(end), status, private, subject)


def plan(
    rules: CalendarSettings, *intervals: BusyInterval, hours: WorkingHours | None = None
) -> list[Block]:
    calendar = PersonCalendar("ana@shop.test", intervals, hours)
    return blocks(calendar, rules, at(0), at(24))


def test_busy_and_out_of_office_pause_by_default() -> None:
    rules = CalendarSettings()

    assert judge(meeting(9, 10), rules).pauses
    assert judge(meeting(9, 10, FreeBusy.OOF), rules).pauses
    assert not judge(meeting(9, 10, FreeBusy.TENTATIVE), rules).pauses
    assert not judge(meeting(9, 10, FreeBusy.FREE), rules).pauses
    assert not judge(meeting(9, 10, FreeBusy.WORKING_ELSEWHERE), rules).pauses
    assert "tentative = false" in judge(meeting(9, 10, FreeBusy.TENTATIVE), rules).why


def test_tentative_pauses_when_switched_on() -> None:
    rules = CalendarSettings(tentative=True)

    assert judge(meeting(9, 10, FreeBusy.TENTATIVE), rules).pauses


def test_free_can_never_be_made_to_pause() -> None:
    with pytest.raises(ValueError, match="never pause"):
        CalendarSettings(pausing_statuses=["busy", "free"])


def test_lead_minutes_start_the_pause_early() -> None:
    found = plan(CalendarSettings(lead_minutes=5), meeting(14, 14.5))

    assert [(b.start, b.end) for b in found] == [
        (at(14) - timedelta(minutes=5), at(14.5))
    ]


def test_back_to_back_meetings_make_one_pause_without_a_flap() -> None:
    found = plan(CalendarSettings(), meeting(9, 10), meeting(10, 11, subject="1:1"))

    assert len(found) == 1
    assert (found[0].start, found[0].end) == (at(9), at(11))


def test_reason_names_no_subject_by_default() -> None:
    (block,) = plan(CalendarSettings(), meeting(14, 14.5))

    assert block.reason("UTC", subject_allowed=False) == "Meeting until 14:30"
    assert block.reason("Europe/Berlin", subject_allowed=False) == "Meeting until 15:30"


def test_subject_shows_when_allowed_but_never_for_private_events() -> None:
    rules = CalendarSettings(subject_in_reason=True)
    (public,) = plan(rules, meeting(9, 10))
    (private,) = plan(rules, meeting(11, 12, subject="Doctor", private=True))

    assert public.reason("UTC", True) == "Budget review until 10:00"
    assert private.reason("UTC", True) == "Meeting until 12:00"


def test_out_of_office_outranks_a_meeting_it_overlaps() -> None:
    found = plan(CalendarSettings(), meeting(9, 10), meeting(9.5, 18, FreeBusy.OOF))

    assert len(found) == 1
    assert found[0].reason("UTC", False) == "Out of office until 18:00"


def test_outside_working_hours_pauses_only_when_configured() -> None:
    hours = WorkingHours(frozenset(range(5)), time(9), time(17), "Europe/Lisbon")

    assert plan(CalendarSettings(), hours=hours) == []
    found = plan(CalendarSettings(outside_working_hours=True), hours=hours)

    # Padded by a day so the block before 09:00 keeps its true start.
    assert [(b.start, b.end) for b in found] == [(at(-24), at(9)), (at(17), at(33))]
    assert found[0].reason("UTC", False) == "Outside working hours until Mon 09:00"


def test_working_hours_follow_the_clock_across_a_daylight_saving_change() -> None:
    hours = WorkingHours(frozenset(range(7)), time(9), time(17), "America/New_York")
    sunday = datetime(2026, 11, 1, 12, tzinfo=UTC)  # US clocks go back at 02:00

    periods = working_periods(
        hours, sunday - timedelta(days=1), sunday + timedelta(hours=6)
    )

    starts = {start.date().day: start.hour for start, _ in periods}
    assert starts[31] == 13  # Saturday 09:00 EDT
    assert starts[1] == 14  # Sunday 09:00 EST


def test_presence_pauses_calls_presenting_and_do_not_disturb_by_default() -> None:
    rules = CalendarSettings()

    def reason(availability: str, activity: str) -> str | None:
        return presence_reason(PresenceReading("a", availability, activity), rules)

    assert reason("Busy", "InACall") == "On a Teams call"
    assert reason("Busy", "InAConferenceCall") == "In a Teams conference call"
    assert reason("DoNotDisturb", "Presenting") == "Presenting in Teams"
    assert reason("DoNotDisturb", "DoNotDisturb") == "Do not disturb (Teams)"
    assert reason("Available", "Available") is None
    assert reason("Busy", "InAMeeting") is None


def test_presence_values_are_a_setting() -> None:
    rules = CalendarSettings(presence_activity=["InAMeeting"], presence_availability=[])

    assert presence_reason(PresenceReading("a", "Busy", "InAMeeting"), rules)
    assert presence_reason(PresenceReading("a", "Busy", "InACall"), rules) is None


def test_calendar_settings_problems_name_the_key(tmp_path: Path) -> None:
    base = {
        "pbx": [{"name": "main", "username": "ccbot", "secret_env": "X"}],
        "queue": [{"name": "sales"}],
    }
    with pytest.raises(ConfigError) as missing:
        parse({**base, "calendar": {"source": "graph"}}, tmp_path / "ccbot.toml")
    with pytest.raises(ConfigError) as two_ways:
        graph = {"tenant_id": "t", "client_id": "c", "client_secret_env": "S"}
        graph["certificate_path"] = "/etc/ccbot/graph.pem"
        parse({**base, "graph": graph}, tmp_path / "ccbot.toml")
    with pytest.raises(ConfigError) as queue:
        calendar = {"queues": {"salse": {"on_busy": "leave"}}}
        parse({**base, "calendar": calendar}, tmp_path / "ccbot.toml")

    assert missing.value.problems == [
        "calendar.source: 'graph' needs a [graph] section"
    ]
    assert "set exactly one of client_secret_env" in two_ways.value.problems[0]
    assert two_ways.value.problems[0].startswith("graph:")
    assert queue.value.problems == [
        "calendar.queues.salse: no [[queue]] is named 'salse'"
    ]
