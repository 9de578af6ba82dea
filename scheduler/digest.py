"""Digest and retention jobs: each queue's digest at its local time, sent once
even when ccbot was down at that moment, and the nightly prune of old calls."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from scheduler.jobs import Scheduler

log = logging.getLogger(__name__)

SendDigest = Callable[[str, date], Awaitable[bool]]
EverSent = Callable[[str], Awaitable[bool]]
Prune = Callable[[], Awaitable[None]]


def _clock(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def report_day(moment: datetime, report: str) -> date:
    """The day a digest sent at ``moment`` (local) reports on."""
    day = moment.date()
    return day - timedelta(days=1) if report == "yesterday" else day


def last_due(now: datetime, at: str, timezone: str, report: str) -> date:
    """The day of the most recent digest that should have gone out by ``now``.

    The local send time is taken on the local calendar, so a daylight-saving
    change moves it with the wall clock, as people expect.
    """
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    moment = datetime.combine(local.date(), _clock(at), zone)
    if moment > local:
        moment -= timedelta(days=1)
    return report_day(moment, report)


class DigestJobs:
    """Arms a cron job per queue plus the nightly prune."""

    def __init__(
        self,
        scheduler: Scheduler,
        send: SendDigest,
        prune: Prune,
        report: str,
        prune_at: str,
        prune_zone: str,
        ever_sent: EverSent | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.send = send
        self.prune = prune
        self.report = report
        self.prune_at = prune_at
        self.prune_zone = prune_zone
        self.ever_sent = ever_sent

    def arm(self, queues: Iterable[tuple[str, str, str]]) -> None:
        """``queues``: (queue, local time "HH:MM", time zone) for each queue."""
        for queue, at, zone in queues:
            clock = _clock(at)
            self.scheduler.apscheduler.add_job(
                self._job(queue, zone),
                CronTrigger(hour=clock.hour, minute=clock.minute, timezone=zone),
                id=f"digest:{queue}",
                replace_existing=True,
            )
        clock = _clock(self.prune_at)
        self.scheduler.apscheduler.add_job(
            self.prune,
            CronTrigger(hour=clock.hour, minute=clock.minute, timezone=self.prune_zone),
            id="retention:prune",
            replace_existing=True,
        )

    def _job(self, queue: str, zone: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            now = datetime.now(ZoneInfo(zone))
            await self._send(queue, report_day(now, self.report))

        return run

    async def _send(self, queue: str, day: date) -> None:
        try:
            await self.send(queue, day)
        except Exception:
            log.exception("%s: digest for %s failed", queue, day)

    async def catch_up(
        self, queues: Iterable[tuple[str, str, str]], now: datetime
    ) -> list[str]:
        """Send, once, each digest that fell due while ccbot was down.

        A queue that never had a digest is new (a first start, or a queue just
        added): its first digest waits for its time instead of arriving now.
        """
        sent = []
        for queue, at, zone in queues:
            day = last_due(now, at, zone, self.report)
            if self.ever_sent is not None and not await self.ever_sent(queue):
                log.info("%s: first digest will go out at %s (%s)", queue, at, zone)
                continue
            try:
                if await self.send(queue, day):
                    sent.append(queue)
                    log.info(
                        "%s: sent the digest for %s that was due while ccbot was down",
                        queue,
                        day,
                    )
            except Exception:
                log.exception("%s: catch-up digest for %s failed", queue, day)
        return sent
