"""How times, waits and lists read in replies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo


def when(moment: datetime, timezone: str, now: datetime) -> str:
    """14:30 today, "tomorrow 09:00", else "Fri 4 Dec 09:00", in the person's zone."""
    zone = ZoneInfo(timezone)
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    days = (local.date() - today).days
    if days == 0:
        return clock
    if days == 1:
        return f"tomorrow {clock}"
    return f"{local:%a} {local.day} {local:%b} {clock}"


def wait(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return (
        f"{minutes} min {rest:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def join(items: Sequence[str]) -> str:
    """sales, support and billing."""
    names = list(items)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def plural(count: int, noun: str) -> str:
    """1 queue, 2 queues; 1 person, 2 people."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {'people' if noun == 'person' else noun + 's'}"
