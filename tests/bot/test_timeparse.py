from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import BadInput
from bot.timeparse import split_window

NOW = datetime(2026, 3, 27, 15, 0, tzinfo=UTC)  # 16:00 in Berlin, 11:00 in New York


@pytest.mark.parametrize(
    ("text", "rest", "delta"),
    [
        ("lunch for 30m", "lunch", timedelta(minutes=30)),
        ("for 1h30m", "", timedelta(minutes=90)),
        ("for 2 hours", "", timedelta(hours=2)),
        ("sales support", "sales support", None),
    ],
)
def test_durations(text: str, rest: str, delta: timedelta | None) -> None:
    window = split_window(text, "Europe/Berlin", NOW)

    assert window.rest == rest
    assert window.until == (NOW + delta if delta else None)


def test_clock_times_are_read_in_the_persons_zone() -> None:
    berlin = split_window("until 17:00", "Europe/Berlin", NOW).until
    new_york = split_window("until 2pm", "America/New_York", NOW).until

    assert berlin == datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
    assert new_york == datetime(2026, 3, 27, 18, 0, tzinfo=UTC)


def test_tomorrow_across_a_daylight_saving_change() -> None:
    # Europe moves its clocks on the night of 28-29 March 2026.
    until = split_window(
        "until tomorrow 9am", "Europe/Berlin", NOW + timedelta(days=1)
    ).until

    assert until == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


def test_a_time_already_past_today_means_tomorrow() -> None:
    until = split_window("until 9:00", "Europe/Berlin", NOW).until

    assert until == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["for banana", "for 0m", "for -5m", "until 25:99", "for 30d"]
)
def test_bad_times_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(BadInput, match=r"Try|Pick"):
        split_window(text, "Europe/Berlin", NOW)
