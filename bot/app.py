"""The composition root: the one place that knows every adapter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from bot.config import Config
from bot.control import Control, utcnow
from bot.errors import CcbotError
from bot.people import import_csv
from bot.store import Store
from handlers.commands import Commands
from integrations.asterisk.ami import AmiPbx
from scheduler.jobs import Scheduler

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0  # how often `run` looks for changes made by `ccbot say`
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
        self._reconciled = {name: asyncio.Event() for name in self.pbxes}
        for name, pbx in self.pbxes.items():
            pbx.on_ready = self._ready_handler(name)
            pbx.on_member = self._member_handler(name)

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

    def _ready_handler(self, name: str):  # type: ignore[no-untyped-def]
        async def ready() -> None:
            try:
                await self.control.reconcile(name)
            except CcbotError as exc:
                log.warning(
                    "reconcile of %s failed: %s; will retry on reconnect", name, exc
                )
            finally:
                self._reconciled[name].set()

        return ready

    def _member_handler(self, name: str):  # type: ignore[no-untyped-def]
        async def member(queue: str, interface: str, value: object) -> None:
            await self.control.on_member(name, queue, interface, value)  # type: ignore[arg-type]

        return member

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
            log.warning("phone system %s not reachable yet; will keep trying", name)
        await self.control.expire_due()
        version = self.store.data_version()
        log.info("ccbot running with %s people", len(self.store.people()))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
            self.control.flush()
            current = self.store.data_version()
            if current != version:
                version = current
                await self._changed_elsewhere()

    async def _changed_elsewhere(self) -> None:
        """Another process (`ccbot say`) changed the store: pick it up."""
        log.debug("store changed by another process; re-reading")
        self.control.reload()
        for name, pbx in self.pbxes.items():
            if pbx.connected:
                try:
                    await self.control.reconcile(name)
                except CcbotError as exc:
                    log.warning("reconcile of %s failed: %s", name, exc)
        self.control.arm_expiry()

    async def close(self) -> None:
        self.control.flush()
        self.scheduler.shutdown()
        for pbx in self.pbxes.values():
            await pbx.close()
        self.store.close()
