"""iCalendar feeds: one URL per person (the people CSV's ``ics_url`` column).

icalendar parses the feed and recurring-ical-events expands its series with
their exceptions (RECURRENCE-ID, EXDATE) and time zones; this module only maps
an event to a busy interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import recurring_ical_events
from icalendar import Calendar, Event

from bot.domain import Person
from bot.protocols import BusyInterval, FreeBusy, PersonCalendar, PresenceReading

log = logging.getLogger(__name__)

IN_FLIGHT = 16  # feeds fetched at once
# Outlook and Exchange publish their own free/busy in this property.
_CDO_STATUS = {
    "FREE": FreeBusy.FREE,
    "TENTATIVE": FreeBusy.TENTATIVE,
    "BUSY": FreeBusy.BUSY,
    "OOF": FreeBusy.OOF,
    "WORKINGELSEWHERE": FreeBusy.WORKING_ELSEWHERE,
}


class IcsSource:
    """Implements the core's ``CalendarSource`` over HTTP(S) iCalendar feeds."""

    name = "ics"

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def fetch(
        self, people: Sequence[Person], start: datetime, end: datetime
    ) -> dict[str, PersonCalendar]:
        limit = asyncio.Semaphore(IN_FLIGHT)

        async def one(person: Person) -> PersonCalendar:
            async with limit:
                return await self._one(person, start, end)

        found = await asyncio.gather(*(one(p) for p in people if p.ics_url))
        return {calendar.email: calendar for calendar in found}

    async def _one(
        self, person: Person, start: datetime, end: datetime
    ) -> PersonCalendar:
        try:
            async with self._client().get(person.ics_url) as response:
                if response.status != 200:
                    log.warning(
                        "calendar feed of %s answered HTTP %s",
                        person.email,
                        response.status,
                    )
                    return PersonCalendar(person.email, error=f"HTTP {response.status}")
                text = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "calendar feed of %s unreachable: %s", person.email, type(exc).__name__
            )
            return PersonCalendar(person.email, error="feed unreachable")
        try:
            intervals = parse_feed(text, person.timezone, start, end)
        except (ValueError, KeyError) as exc:
            log.warning(
                "calendar feed of %s is not valid iCalendar: %s", person.email, exc
            )
            return PersonCalendar(person.email, error="feed is not valid iCalendar")
        return PersonCalendar(person.email, tuple(intervals))

    async def presence(self, people: Sequence[Person]) -> dict[str, PresenceReading]:
        return {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def parse_feed(
    text: bytes | str, timezone: str, start: datetime, end: datetime
) -> list[BusyInterval]:
    """Busy intervals between start and end; floating and all-day in ``timezone``."""
    calendar = Calendar.from_ical(text)
    intervals = []
    for event in recurring_ical_events.of(calendar).between(start, end):
        interval = _interval(event, timezone)
        if interval is not None:
            intervals.append(interval)
    return sorted(intervals, key=lambda i: i.start)


def _interval(event: Event, timezone: str) -> BusyInterval | None:
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    begin, finish = event.get("DTSTART").dt, _end(event)
    all_day = not isinstance(begin, datetime)
    privacy = str(event.get("CLASS", "PUBLIC")).upper()
    private = privacy in {"PRIVATE", "CONFIDENTIAL"}
    return BusyInterval(
        start=_utc(begin, timezone),
        end=_utc(finish, timezone),
        status=_status(event),
        private=private,
        subject="" if private else str(event.get("SUMMARY", "")),
        all_day=all_day,
    )


def _end(event: Event) -> date | datetime:
    try:
        return event.end
    except Exception:  # icalendar raises its own error when DTEND is missing
        return event.get("DTSTART").dt


def _status(event: Event) -> FreeBusy:
    cdo = str(event.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper()
    if cdo in _CDO_STATUS:
        return _CDO_STATUS[cdo]
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return FreeBusy.FREE
    if str(event.get("STATUS", "")).upper() == "TENTATIVE":
        return FreeBusy.TENTATIVE
    return FreeBusy.BUSY


def _utc(moment: Any, timezone: str) -> datetime:
    if not isinstance(moment, datetime):  # an all-day date: midnight where they are
        moment = datetime.combine(moment, time(), ZoneInfo(timezone))
    elif moment.tzinfo is None:  # floating time: the person's own clock
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)
