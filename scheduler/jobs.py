"""APScheduler set-up: exact-time date jobs for the core's timers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger(__name__)


class Scheduler:
    """Implements the core's ``Timers`` protocol on an AsyncIOScheduler.

    Jobs live in memory: the store holds every expiry, and the core re-arms
    them on start, so nothing is lost when ccbot restarts.
    """

    def __init__(self) -> None:
        self.apscheduler = AsyncIOScheduler(
            job_defaults={"misfire_grace_time": None, "coalesce": True}
        )

    def start(self) -> None:
        self.apscheduler.start()

    def shutdown(self) -> None:
        if self.apscheduler.running:
            self.apscheduler.shutdown(wait=False)

    def at(self, key: str, when: datetime, job: Callable[[], Awaitable[None]]) -> None:
        self.apscheduler.add_job(
            job, DateTrigger(run_date=when), id=key, replace_existing=True
        )
        log.debug("scheduled %s at %s", key, when.isoformat())

    def cancel(self, key: str) -> None:
        if self.apscheduler.get_job(key) is not None:
            self.apscheduler.remove_job(key)

    def every(
        self, key: str, seconds: float, job: Callable[[], Awaitable[None]]
    ) -> None:
        self.apscheduler.add_job(
            job, "interval", seconds=seconds, id=key, replace_existing=True
        )
