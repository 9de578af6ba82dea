"""Calendar jobs: the periodic refresh, presence reads, and exact transitions.

A refresh reads the next hours for everyone, keeps the result as the last
good schedule, and arms one date job per pause or resume moment. A job only
asks the core to settle that person, so a stale job does no harm and a
changed interval simply replaces its jobs. A refresh that fails leaves the
last good schedule, and its jobs, in place.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bot.availability import Availability
from bot.domain import Person
from bot.errors import CalendarUnavailable, CcbotError
from bot.protocols import CalendarSource
from scheduler.jobs import Scheduler

log = logging.getLogger(__name__)

REFRESH_KEY, PRESENCE_KEY = "calendar:refresh", "calendar:presence"


@dataclass(frozen=True)
class RefreshReport:
    people: int
    failed: int
    jobs: int
    seconds: float
    error: str = ""


class CalendarJobs:
    def __init__(
        self, availability: Availability, source: CalendarSource, timers: Scheduler
    ) -> None:
        self.availability = availability
        self.source = source
        self.timers = timers
        self.rules = availability.rules
        self._keys: set[str] = set()

    def clock(self) -> datetime:
        return self.availability.control.clock()

    def people(self) -> list[Person]:
        everyone = self.availability.control.store.people()
        if self.source.name == "ics":
            return [p for p in everyone if p.ics_url]
        return everyone

    async def start(self) -> RefreshReport:
        """First refresh now, then on the configured intervals."""
        report = await self.refresh()
        self.timers.every(REFRESH_KEY, self.rules.refresh_minutes * 60, self._refresh)
        if self.rules.presence:
            self.timers.every(PRESENCE_KEY, self.rules.presence_seconds, self.presence)
        return report

    async def refresh(self) -> RefreshReport:
        began = time.monotonic()
        people = self.people()
        emails = [p.email for p in people]
        now = self.clock()
        end = now + timedelta(hours=self.rules.horizon_hours)
        error, failed = "", 0
        try:
            found = await self.source.fetch(people, now, end)
            failed = self.availability.record(found)
        except CalendarUnavailable as exc:
            error = str(exc)
            self.availability.record_failure(emails, error)
        except Exception:
            # A bug or a surprise from a source must not stop ccbot, nor
            # drop the schedule it already has.
            log.exception("calendar refresh from %s failed", self.source.name)
            error = "unexpected error"
            self.availability.record_failure(emails, error)
        jobs = self.arm(emails, now, end)
        await self.availability.settle_all(emails)
        report = RefreshReport(
            len(people), failed, jobs, time.monotonic() - began, error
        )
        log.info(
            "calendar refresh: %s people, %s failed, %s transitions armed in %.1f s",
            report.people,
            report.failed,
            report.jobs,
            report.seconds,
        )
        return report

    async def _refresh(self) -> None:
        await self.refresh()

    def arm(self, emails: list[str], now: datetime, end: datetime) -> int:
        """One date job per transition; jobs of moments no longer wanted go."""
        wanted: dict[str, tuple[datetime, str]] = {}
        for email in emails:
            for moment in self.availability.transitions(email, now, end):
                wanted[f"calendar:{email}:{moment.isoformat()}"] = (moment, email)
        for key in self._keys - wanted.keys():
            self.timers.cancel(key)
        for key, (moment, email) in wanted.items():
            if key not in self._keys:
                self.timers.at(key, moment, partial(self._transition, email))
        self._keys = set(wanted)
        return len(wanted)

    async def _transition(self, email: str) -> None:
        log.debug("calendar transition for %s", email)
        await self.availability.settle(email)

    async def presence(self) -> None:
        try:
            readings = await self.source.presence(self.people())
        except CcbotError as exc:
            log.warning("presence read failed (%s); keeping the presence layer", exc)
            return
        await self.availability.settle_presence(readings)

    async def close(self) -> None:
        for key in (REFRESH_KEY, PRESENCE_KEY, *self._keys):
            self.timers.cancel(key)
        await self.source.close()
