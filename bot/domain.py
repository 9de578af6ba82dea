"""Domain values: people, queues, memberships, pauses and what Asterisk reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Role(enum.StrEnum):
    AGENT = "agent"
    MANAGER = "manager"


class Layer(enum.IntEnum):
    """Availability layers, strongest first (lower value wins)."""

    MANUAL = 1
    CALENDAR = 2
    PRESENCE = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    interface: str
    state_interface: str = ""
    queues: tuple[str, ...] = ()
    role: Role = Role.AGENT
    timezone: str = "UTC"
    slack_id: str = ""
    teams_id: str = ""
    ics_url: str = ""

    @property
    def is_manager(self) -> bool:
        return self.role is Role.MANAGER


@dataclass(frozen=True)
class QueueInfo:
    """A queue as the config describes it."""

    name: str
    pbx: str
    display_name: str
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Membership:
    """A queue a person wants to be in, and until when."""

    email: str
    queue: str
    until: datetime | None = None
    source: str = "ccbot"


REASON_LIMIT = 79  # Asterisk keeps this many characters of a pause reason


def pause_reason(text: str) -> str:
    """A reason as Asterisk will show it: one line, at most REASON_LIMIT long.

    Saving it in this form keeps desired and observed reasons comparable, so
    a long or multi-line reason is not re-sent forever.
    """
    return " ".join(text.split())[:REASON_LIMIT].rstrip()


@dataclass(frozen=True)
class Pause:
    """One availability layer saying the person should not ring."""

    email: str
    layer: Layer
    reason: str
    until: datetime | None = None
    source: str = "ccbot"


@dataclass(frozen=True)
class Member:
    """A queue member as Asterisk reports it."""

    queue: str
    interface: str
    name: str = ""
    state_interface: str = ""
    static: bool = False
    paused: bool = False
    reason: str = ""
    in_call: bool = False
    status: int = 0


@dataclass(frozen=True)
class Caller:
    queue: str
    uniqueid: str
    number: str = ""
    name: str = ""
    wait: int = 0
    position: int = 0


@dataclass
class QueueSnapshot:
    """One queue as Asterisk reports it in QueueStatus."""

    name: str
    members: dict[str, Member] = field(default_factory=dict)
    callers: list[Caller] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0

    @property
    def longest_wait(self) -> int:
        return max((caller.wait for caller in self.callers), default=0)


@dataclass(frozen=True)
class PbxSnapshot:
    pbx: str
    startup: str
    queues: dict[str, QueueSnapshot]
