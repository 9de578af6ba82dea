"""The App Home tab: a person's queues, pause buttons and availability layers.

Buttons carry only a small action name and a queue or a duration; the
command line they stand for is built here and goes through the same
`Commands.handle` path as a typed slash command.
"""

from __future__ import annotations

from datetime import datetime

from bot.control import Control
from bot.domain import Layer, Person
from bot.messages import Button, Buttons, Fields, Note, Reply, Section, Table
from handlers.commands import DEFAULT_PAUSE_REASON
from handlers.text import join, when

JOIN, LEAVE, PAUSE, UNPAUSE = "home.join", "home.leave", "home.pause", "home.unpause"
PAUSE_CHOICES = (("15 min", "15m"), ("30 min", "30m"), ("1 h", "1h"))


def command_line(action: str, value: str, queues: set[str]) -> str | None:
    """The slash command a Home button stands for, or None for a forged one."""
    if action == JOIN and value in queues:
        return f"/joinqueue {value}"
    if action == LEAVE and value in queues:
        return f"/leavequeue {value}"
    if action == PAUSE and value in {v for _, v in PAUSE_CHOICES}:
        return f"/pause for {value}"
    if action == PAUSE and not value:
        return "/pause"
    if action == UNPAUSE:
        return "/unpause"
    return None


def home_reply(control: Control, person: Person, last: str = "") -> Reply:
    now = control.clock()
    blocks: list[Section | Table | Buttons | Fields | Note] = []
    if last:
        blocks.append(Note(last))
    blocks.extend(_queues(control, person, now))
    blocks.extend(_pause(control, person))
    blocks.append(Fields(tuple(_layers(control, person, now))))
    blocks.append(Note(_next_change(control, person, now)))
    return Reply(text=_headline(control, person), blocks=tuple(blocks))


def _headline(control: Control, person: Person) -> str:
    pause = control.effective_pause(person.email)
    queues = control.queues_of(person.email)
    if pause is not None and pause.reason == DEFAULT_PAUSE_REASON:
        return f"*{person.name}* — paused."
    if pause is not None:
        return f"*{person.name}* — paused ({pause.reason})."
    if queues:
        names = [
            info.display_name if (info := control.config.queues.get(q)) else q
            for q in queues
        ]
        return f"*{person.name}* — taking calls in {join(names)}."
    return f"*{person.name}* — in no queue. Join one below to take calls."


def _queues(control: Control, person: Person, now: datetime) -> list[Table | Buttons]:
    memberships = {m.queue: m for m in control.memberships(person.email)}
    rows, buttons = [], []
    for name, info in control.config.queues.items():
        seen = control.seen(name, person.email)
        membership = memberships.get(name)
        if seen is not None and seen.static:
            rows.append((info.display_name, "permanent member"))
            continue
        if membership is None:
            rows.append((info.display_name, "not in"))
            buttons.append(Button(f"Join {info.display_name}", JOIN, name))
            continue
        until = (
            f" until {when(membership.until, person.timezone, now)}"
            if membership.until
            else ""
        )
        rows.append((info.display_name, f"in{until}"))
        buttons.append(Button(f"Leave {info.display_name}", LEAVE, name))
    found: list[Table | Buttons] = [
        Table("Your queues", ("Queue", "State"), tuple(rows))
    ]
    if buttons:
        found.append(Buttons(tuple(buttons)))
    return found


def _pause(control: Control, person: Person) -> list[Section | Buttons]:
    manual = any(p.layer is Layer.MANUAL for p in control.pauses(person.email))
    buttons = [Button(f"Pause {label}", PAUSE, value) for label, value in PAUSE_CHOICES]
    buttons.append(Button("Pause until I resume", PAUSE, ""))
    if manual:
        buttons.append(Button("Unpause", UNPAUSE, "", "primary"))
    return [Section("*Pause*"), Buttons(tuple(buttons))]


def _layers(control: Control, person: Person, now: datetime) -> list[tuple[str, str]]:
    pauses = {p.layer: p for p in control.pauses(person.email)}
    strongest = control.effective_pause(person.email)
    pairs = []
    for layer in Layer:
        pause = pauses.get(layer)
        if pause is None:
            pairs.append((layer.label.capitalize(), "not pausing you"))
            continue
        until = (
            f" until {when(pause.until, person.timezone, now)}"
            if pause.until
            else " until you unpause"
            if layer is Layer.MANUAL
            else ""
        )
        shown = " (shows in Asterisk)" if pause is strongest and len(pauses) > 1 else ""
        pairs.append(
            (layer.label.capitalize(), f"paused: {pause.reason}{until}{shown}")
        )
    return pairs


def _next_change(control: Control, person: Person, now: datetime) -> str:
    changes: list[tuple[datetime, str]] = []
    for pause in control.pauses(person.email):
        if pause.until is not None:
            changes.append((pause.until, f"your {pause.layer.label} pause ends"))
    for membership in control.memberships(person.email):
        if membership.until is not None:
            info = control.config.queues.get(membership.queue)
            name = info.display_name if info else membership.queue
            changes.append((membership.until, f"you leave {name}"))
    if not changes:
        return "Next change: nothing scheduled."
    moment, what = min(changes)
    return f"Next change: at {when(moment, person.timezone, now)} {what}."
