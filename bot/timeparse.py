"""Reading "for 30m" and "until tomorrow 9am" in a person's own time zone.

Durations go through pytimeparse and clock times through dateparser; the only
rules written here are which word starts the time and what "past" means.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dateparser
import pytimeparse

from bot.errors import BadInput

LONGEST = timedelta(days=14)
_KEYWORD = re.compile(r"(?:^|\s)(for|until|till)\s+(.+)$", re.IGNORECASE)
_DATE_WORDS = re.compile(
    r"\b(today|tomorrow|mon|tue|wed|thu|fri|sat|sun|\d{1,2}[/.-]\d{1,2}|"
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Window:
    rest: str
    until: datetime | None


def split_window(text: str, timezone: str, now: datetime) -> Window:
    """Take a trailing "for DURATION" or "until TIME" off the text."""
    match = _KEYWORD.search(text.strip())
    if not match:
        return Window(text.strip(), None)
    rest = text.strip()[: match.start()].strip()
    word, value = match.group(1).lower(), match.group(2).strip()
    if word == "for":
        return Window(rest, now + parse_duration(value))
    return Window(rest, parse_until(value, timezone, now))


def parse_duration(text: str) -> timedelta:
    seconds = pytimeparse.parse(text.replace(" ", ""))
    if seconds is None:
        raise BadInput(f"I can't read {text!r} as a duration. Try 30m, 1h or 1h30m.")
    if seconds <= 0:
        raise BadInput(f"{text!r} is not a length of time. Try 30m, 1h or 1h30m.")
    if seconds > LONGEST.total_seconds():
        raise BadInput("That's longer than two weeks. Pick a shorter time.")
    return timedelta(seconds=seconds)


def parse_until(text: str, timezone: str, now: datetime) -> datetime:
    if text.strip().isdigit():
        # dateparser reads "3" as the 3rd of the month; nobody means that.
        hint = f"Try until {text}:00 or until {text}pm."
        raise BadInput(f"I can't tell which time {text!r} is. {hint}")
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    # dateparser is given the local wall clock and returns a wall-clock time
    # that ZoneInfo then places. Letting dateparser convert zones itself keeps
    # the offset of "now" across a daylight-saving change, so "tomorrow 9am"
    # on the night the clocks go forward came out as 10:00.
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": local_now.replace(tzinfo=None),
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    with warnings.catch_warnings():
        # dateparser warns about its own use of a deprecated strptime form.
        warnings.simplefilter("ignore", DeprecationWarning)
        moment = dateparser.parse(text, languages=["en"], settings=settings)
    if moment is None:
        raise BadInput(
            f"I can't read {text!r} as a time. Try until 14:00, until 2pm "
            "or until tomorrow 9am."
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment <= now and not _DATE_WORDS.search(text):
        moment += timedelta(days=1)
    if moment <= now:
        raise BadInput(f"{text!r} has already passed. Pick a later time.")
    if moment - now > LONGEST:
        raise BadInput("That's more than two weeks away. Pick an earlier time.")
    return moment
