"""Graph's JSON to the core's busy intervals, time zones done properly.

The batch bodies are read as JSON rather than through msgraph-sdk's models:
the SDK builds a map of every Graph property for each object it parses
(about 8 ms per event), which for 2,000 mailboxes costs more than the whole
refresh budget. The field names are Graph's wire names.

Graph writes a moment as a wall-clock ``dateTime`` plus a ``timeZone`` that
may be an IANA name, "UTC" or a Windows name such as "Pacific Standard
Time"; icalendar ships the CLDR Windows-to-IANA table that maps the last.
All-day events are dates, so they start at midnight where the person is.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from bot.protocols import BusyInterval, FreeBusy, WorkingHours

log = logging.getLogger(__name__)

Json = dict[str, Any]
_DAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_PRIVATE = {"private", "confidential"}
_STATUSES = {status.value for status in FreeBusy}


def iana(name: str | None, fallback: str = "UTC") -> str:
    """An IANA zone for a Graph zone name (IANA, UTC or Windows)."""
    if not name:
        return fallback
    candidate = WINDOWS_TO_OLSON.get(name, name)
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r from Graph; using %s", name, fallback)
        return fallback
    return candidate


def moment(value: Json | None, fallback: str = "UTC") -> datetime | None:
    """A Graph dateTimeTimeZone as an aware UTC datetime."""
    if not value or not value.get("dateTime"):
        return None
    whole, _, fraction = str(value["dateTime"]).rstrip("Z").partition(".")
    local = datetime.fromisoformat(whole)
    if fraction:
        local = local.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(iana(value.get("timeZone"), fallback)))
    return local.astimezone(UTC)


def mailbox_zone(settings: Json | None, fallback: str) -> str:
    return iana((settings or {}).get("timeZone"), fallback)


def interval(event: Json, home: str) -> BusyInterval | None:
    """One event, or None when it is cancelled or unreadable."""
    if event.get("isCancelled"):
        return None
    if event.get("isAllDay"):
        start, end = (
            _all_day(event.get("start"), home),
            _all_day(event.get("end"), home),
        )
    else:
        start, end = moment(event.get("start")), moment(event.get("end"))
    if start is None or end is None:
        log.warning("Graph event without start or end; skipped")
        return None
    private = event.get("sensitivity") in _PRIVATE
    shown = event.get("showAs") or "busy"
    return BusyInterval(
        start=start,
        end=end,
        status=FreeBusy(shown) if shown in _STATUSES else FreeBusy.BUSY,
        private=private,
        subject="" if private else str(event.get("subject") or ""),
        all_day=bool(event.get("isAllDay")),
    )


def _all_day(value: Json | None, home: str) -> datetime | None:
    if not value or not value.get("dateTime"):
        return None
    day = datetime.fromisoformat(str(value["dateTime"])[:10]).date()
    return datetime.combine(day, time(), ZoneInfo(home)).astimezone(UTC)


def _time(text: str | None) -> time | None:
    if not text:
        return None
    return time.fromisoformat(text.partition(".")[0])


def working_hours(settings: Json | None, home: str) -> WorkingHours | None:
    hours = (settings or {}).get("workingHours") or {}
    start, end = _time(hours.get("startTime")), _time(hours.get("endTime"))
    if start is None or end is None:
        return None
    days = frozenset(
        _DAYS[day] for day in hours.get("daysOfWeek") or [] if day in _DAYS
    )
    zone = iana((hours.get("timeZone") or {}).get("name"), home)
    return WorkingHours(days, start, end, zone)


def automatic_reply(
    settings: Json | None, start: datetime, end: datetime
) -> BusyInterval | None:
    """Automatic replies switched on, as an out-of-office interval."""
    reply = (settings or {}).get("automaticRepliesSetting") or {}
    # Graph's own examples spell the value both "Scheduled" and "scheduled".
    status = str(reply.get("status") or "").lower()
    if status == "alwaysenabled":
        # No end is known: cover the window and a day, so it never flaps.
        return BusyInterval(
            start, end + timedelta(days=1), FreeBusy.OOF, automatic_reply=True
        )
    if status == "scheduled":
        begin = moment(reply.get("scheduledStartDateTime"))
        finish = moment(reply.get("scheduledEndDateTime"))
        if begin and finish and finish > start and begin < end:
            return BusyInterval(begin, finish, FreeBusy.OOF, automatic_reply=True)
    return None


def error_text(status: int, body: object) -> str:
    """A batch item's error as a short line for logs and `/me`."""
    code = ""
    if isinstance(body, dict):
        error = body.get("error")
        code = str(error.get("code", "")) if isinstance(error, dict) else ""
    return f"Graph answered {status}" + (f" ({code})" if code else "")


def failure_text(exc: BaseException) -> str:
    """A whole-request failure, named without the SDK's message (no secrets)."""
    status = getattr(exc, "response_status_code", None)
    if status:
        return f"Graph answered {status}"
    return f"Graph unreachable ({type(exc).__name__})"
