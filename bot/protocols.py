"""The small protocols through which the core talks to the outside."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Protocol

from bot.domain import PbxSnapshot, Person
from bot.messages import Reply


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


@dataclass(frozen=True)
class MessageRef:
    """Where a posted message lives, so it can be updated later."""

    channel: str  # "slack:C0123ABC" or "teams:<conversation id>"
    id: str  # Slack ts, Teams activity id


class Chat(Protocol):
    """A chat platform (Slack, Teams, the console), addressed by "platform:id".

    Messages are the core's platform-neutral models; each adapter renders them.
    """

    async def post(self, channel: str, message: Reply) -> MessageRef | None: ...

    async def update(self, ref: MessageRef, message: Reply) -> None: ...

    async def ephemeral(self, channel: str, person: Person, message: Reply) -> None: ...

    async def direct(self, person: Person, message: Reply) -> MessageRef | None: ...

    async def upload(
        self, channel: str, filename: str, content: bytes, title: str, comment: str
    ) -> None: ...


class FreeBusy(enum.StrEnum):
    """Free/busy as Outlook names it (Graph's ``showAs``)."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"
    WORKING_ELSEWHERE = "workingElsewhere"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class BusyInterval:
    """One calendar entry, in UTC; ``subject`` is empty when private."""

    start: datetime
    end: datetime
    status: FreeBusy
    private: bool = False
    subject: str = ""
    all_day: bool = False
    automatic_reply: bool = False  # an out-of-office reply, not an event


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: time
    end: time
    timezone: str  # IANA name


@dataclass(frozen=True)
class PersonCalendar:
    """What a source knows of one person over the window asked for.

    ``error`` is set when this person's mailbox or feed could not be read;
    the rest of the people in the same request still count.
    """

    email: str
    intervals: tuple[BusyInterval, ...] = ()
    working_hours: WorkingHours | None = None
    error: str = ""


@dataclass(frozen=True)
class PresenceReading:
    email: str
    availability: str  # e.g. Available, Busy, DoNotDisturb
    activity: str  # e.g. InACall, Presenting


class CalendarSource(Protocol):
    """Busy intervals for people over a window (Graph, iCalendar feeds).

    ``fetch`` raises the core's ``CalendarUnavailable`` when nothing could be
    read at all; one person's failure is that person's ``error`` instead.
    """

    name: str

    async def fetch(
        self, people: Sequence[Person], start: datetime, end: datetime
    ) -> dict[str, PersonCalendar]: ...

    async def presence(self, people: Sequence[Person]) -> dict[str, PresenceReading]:
        """Current presence; sources without presence return an empty dict."""
        ...

    async def close(self) -> None: ...
