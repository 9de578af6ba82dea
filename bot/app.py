"""The composition root: the one place that knows every adapter."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bot.availability import Availability
from bot.calls import CallDb, CallTracker
from bot.config import Config
from bot.control import Control, utcnow
from bot.domain import Member
from bot.errors import CcbotError
from bot.messages import Reply
from bot.people import import_csv
from bot.protocols import CalendarSource
from bot.store import Store
from handlers import calendar as _calendar_command  # noqa: F401 (registers it)
from handlers.alerts import ACTIONS as ALERT_ACTIONS
from handlers.alerts import Alerts
from handlers.commands import Commands
from handlers.digest import DigestSender
from integrations.asterisk.ami import AmiPbx
from integrations.asterisk.calls import CallEvents
from scheduler.calendar import CalendarJobs
from scheduler.jobs import Scheduler

if TYPE_CHECKING:
    from integrations.slack.app import SlackFrontEnd
    from integrations.web.server import WebServer

log = logging.getLogger(__name__)


class AlreadyRunning(Exception):
    """Another `ccbot run` holds the same store."""


@contextlib.contextmanager
def _held(handle: IO[str]) -> Iterator[None]:
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def hold_run_lock(store_path: Path) -> contextlib.AbstractContextManager[None]:
    """One `ccbot run` per store: two would post every alert and digest twice."""
    path = store_path.with_name(store_path.name + ".run.lock")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(
            f"another `ccbot run` (pid {pid}) already uses {store_path}; stop it first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return _held(handle)


# How often `run` writes what it saw and looks for changes made by `ccbot say`.
FLUSH_SECONDS = 0.5


class App:
    def __init__(self, config: Config, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.store = Store(config.store_path)
        self._import_people_if_empty()
        self.pbxes = {p.name: AmiPbx(p, p.secret()) for p in config.settings.pbx}
        self.scheduler = Scheduler()
        self.control = Control(
            config, self.store, self.pbxes, clock=clock, timers=self.scheduler
        )
        self.commands = Commands(self.control)
        calendar = config.settings.calendar
        self.availability = Availability(self.control, calendar, calendar.source)
        self.calendar: CalendarJobs | None = None
        self.calls = CallTracker(
            config, CallDb(config.store_path), self.control.person_for_interface
        )
        self.alerts = Alerts(config, self.calls, self.commands.handle)
        self.digests = DigestSender(
            config, self.calls.db, None, self.control.find_person
        )
        self._reconciled = {name: asyncio.Event() for name in self.pbxes}
        self.slack: SlackFrontEnd | None = None
        self.web: WebServer | None = None
        for name, pbx in self.pbxes.items():
            pbx.on_ready = self._ready_handler(name)
            pbx.on_member = self._member_handler(name)
            pbx.on_event = CallEvents(name, self.calls)

    def _import_people_if_empty(self) -> None:
        path = self.config.people_csv
        if self.store.people() or not path.exists():
            return
        report = import_csv(
            path, self.store, self.config.settings.people, self.config.queues
        )
        log.info("imported people from %s: %s", path, report.summary)
        for problem in report.problems:
            log.warning("%s: %s", path, problem)

    def _ready_handler(self, name: str) -> Callable[[], Awaitable[None]]:
        async def ready() -> None:
            try:
                await self.control.reconcile(name)
                await self.calls.settle_open(name, self.control.snapshots.get(name))
            except CcbotError as exc:
                log.warning(
                    "reconcile of %s failed: %s; will retry on reconnect", name, exc
                )
            finally:
                self._reconciled[name].set()

        return ready

    def _member_handler(
        self, name: str
    ) -> Callable[[str, str, Member | None], Awaitable[None]]:
        return functools.partial(self.control.on_member, name)

    async def connect(self, wait: float) -> list[str]:
        """Connect every phone system; return those not ready within ``wait``."""

        async def one(name: str, pbx: AmiPbx) -> str | None:
            if not await pbx.start(wait=wait):
                return name
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconciled[name].wait(), wait + 30)
            return None

        results = await asyncio.gather(*(one(n, p) for n, p in self.pbxes.items()))
        return [name for name in results if name]

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set: reconnects, timers, changes from `say`."""
        self.scheduler.start()
        away = await self.connect(wait=self.config.settings.pbx[0].connect_timeout)
        for name in away:
            refused = self.pbxes[name].login_error
            if refused:
                log.error("phone system %s: %s; will keep trying", name, refused)
            else:
                log.warning("phone system %s not reachable yet; will keep trying", name)
        await self.control.expire_due()
        await self.start_front_ends()
        await self.start_calendar()
        await self.start_calls()
        log.info("ccbot running with %s people", len(self.store.people()))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
            self.control.flush()
            if self.control.catch_up():
                await self._changed_elsewhere()

    async def _changed_elsewhere(self) -> None:
        """Another process (`ccbot say`) changed the store: act on it."""
        for name, pbx in self.pbxes.items():
            if pbx.connected:
                try:
                    await self.control.reconcile(name)
                except CcbotError as exc:
                    log.warning("reconcile of %s failed: %s", name, exc)

    async def start_front_ends(self, serve: bool = True) -> None:
        """The chat front ends the config enables, and the web server they share.

        Built here rather than in __init__ so one-shot commands (`ccbot say`)
        never open a Slack connection. ``serve=False`` builds them for posting
        only (`self.slack.chat`): no port is bound and no socket opened, so a
        one-shot command can run beside `ccbot run`.
        """
        slack = self.config.settings.slack
        if slack is not None and self.slack is None:
            from integrations.slack.app import SlackFrontEnd
            from integrations.web.server import WebServer

            self.slack = SlackFrontEnd(slack, self.control, self.commands, self.store)
            if slack.mode == "http":
                web = self.config.settings.web
                self.web = self.web or WebServer(web.host, web.port)
                self.slack.mount(self.web)
        if not serve:
            return
        if self.web is not None and not self.web.running:
            await self.web.start()
        if self.slack is not None:
            await self.slack.start()

    async def start_calendar(self) -> None:
        """Calendar and presence layers, when the config names a source."""
        source = calendar_source(self.config)
        if source is None or self.calendar is not None:
            return
        if self.slack is not None:
            self.availability.chat = self.slack.chat
        self.calendar = CalendarJobs(self.availability, source, self.scheduler)
        await self.calendar.start()

    async def start_calls(self) -> None:
        """Alerts and digests go to the chat front end; digests are armed."""
        from scheduler.digest import DigestJobs

        chat = self.slack.chat if self.slack is not None else None
        self.alerts.chat = self.digests.chat = chat
        if self.slack is not None:
            for action in ALERT_ACTIONS:
                self.slack.actions[action] = self._alert_button(action)
        digest = self.config.settings.digest
        if not digest.enabled:
            return
        jobs = DigestJobs(
            self.scheduler,
            self.digests.send,
            self.prune_calls,
            digest.report,
            digest.prune_time,
            digest.timezone,
            self.digests.ever_sent,
        )
        times = self.digests.times()
        jobs.arm(times)
        await jobs.catch_up(times, datetime.now(UTC))

    def _alert_button(self, action: str):  # type: ignore[no-untyped-def]
        async def clicked(email: str, value: str, ref: object) -> Reply | None:
            person = self.control.find_person(email)
            if person is None:
                return None
            reply = await self.alerts.handle_action(action, value, person)
            # A public reply is the alert itself, already updated everywhere.
            return None if reply.public else reply

        return clicked

    async def prune_calls(self) -> None:
        """Forget call records older than [store] retention_days."""
        days = self.config.settings.store.retention_days
        before = datetime.now(UTC).timestamp() - days * 86400
        counts = await self.calls.db.arun(lambda c: CallDb.prune(c, before))
        log.info("pruned call history older than %s days: %s", days, counts)

    async def close(self) -> None:
        await self.alerts.close()  # alerts in flight still need the chat
        if self.calendar is not None:
            await self.calendar.close()
        if self.slack is not None:
            await self.slack.stop()
        if self.web is not None:
            await self.web.stop()
        self.control.flush()
        await self.calls.close()
        self.scheduler.shutdown()
        for pbx in self.pbxes.values():
            await pbx.close()
        self.calls.db.close()
        self.store.close()


def calendar_source(config: Config) -> CalendarSource | None:
    """The calendar adapter the config names, if any."""
    settings = config.settings.calendar
    if settings.source == "graph" and config.settings.graph is not None:
        from integrations.graph.source import GraphSource

        return GraphSource(config.settings.graph)
    if settings.source == "ics":
        from integrations.ics.source import IcsSource

        return IcsSource(settings.ics_timeout)
    return None
