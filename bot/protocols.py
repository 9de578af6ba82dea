"""The small protocols through which the core talks to the outside."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain import PbxSnapshot


@dataclass(frozen=True)
class AddMember:
    queue: str
    interface: str
    name: str
    state_interface: str
    paused: bool
    reason: str


@dataclass(frozen=True)
class RemoveMember:
    queue: str
    interface: str


@dataclass(frozen=True)
class PauseMember:
    queue: str
    interface: str
    paused: bool
    reason: str


Action = AddMember | RemoveMember | PauseMember


class Pbx(Protocol):
    """A phone system: Asterisk over AMI in production."""

    name: str

    @property
    def connected(self) -> bool: ...

    async def snapshot(self) -> PbxSnapshot:
        """Every queue with its members and waiting callers, and the start time."""
        ...

    async def send(self, action: Action) -> None:
        """Apply one change; raises the core's Pbx* errors."""
        ...


class Timers(Protocol):
    """Exact-time jobs (APScheduler in production)."""

    def at(
        self, key: str, when: datetime, job: Callable[[], Awaitable[None]]
    ) -> None: ...

    def cancel(self, key: str) -> None: ...
