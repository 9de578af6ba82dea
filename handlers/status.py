"""/queues, /whoison and /me: what Asterisk and ccbot know, told plainly."""

from __future__ import annotations

from collections.abc import Mapping

from bot.availability import calendar_status
from bot.control import Control, look
from bot.domain import Layer, Member, PbxSnapshot, Person, QueueSnapshot
from bot.errors import CcbotError, NoSuchQueue, PbxUnavailable
from bot.messages import Fields, Note, Reply, Section, Table
from handlers.text import join, plural, wait, when


def error_text(queue: str, error: CcbotError) -> str:
    """A core error as one sentence a chat user can act on."""
    if isinstance(error, NoSuchQueue):
        return (
            f"{error}, so nothing changed there. Ask your admin to check it "
            "with `ccbot doctor`."
        )
    if isinstance(error, PbxUnavailable):
        return f"{queue}: the phone system isn't reachable; the change is saved."
    return f"{queue}: the phone system refused the change ({error}). Ask your admin."


def _member_state(member: Member) -> str:
    if member.paused:
        return f"paused: {member.reason}" if member.reason else "paused"
    if member.in_call:
        return "on a call"
    return "available"


def _away_note(
    control: Control, away: list[str], snapshots: Mapping[str, object]
) -> Note | None:
    if not away:
        return None
    last = [name for name in away if name in snapshots]
    tail = "showing what I saw last." if last else "I have nothing from it yet."
    refused = [n for n in away if getattr(control.pbxes[n], "login_error", None)]
    if refused:
        head = f"Asterisk ({join(refused)}) refused ccbot's login; ask your admin"
        return Note(
            f"{head} to run `ccbot doctor`. Meanwhile {tail[0].lower()}{tail[1:]}"
        )
    return Note(f"Can't reach the phone system ({join(away)}) right now: {tail}")


def _no_news(display_name: str, pbx: str, away: list[str]) -> Section:
    why = "can't reach the phone system" if pbx in away else "no news from Asterisk yet"
    return Section(f"*{display_name}* — {why}.")


async def queues_reply(control: Control, actor: Person | None = None) -> Reply:
    snapshots, away = await look(control)
    blocks: list[Section | Table | Note] = []
    for name, info in control.config.queues.items():
        queue = _queue(snapshots, info.pbx, name)
        if queue is None:
            blocks.append(_no_news(info.display_name, info.pbx, away))
            continue
        rows = []
        for member in sorted(
            queue.members.values(), key=lambda m: m.name or m.interface
        ):
            person = control.person_for_interface(member.interface)
            label = person.name if person else (member.name or member.interface)
            kind = " (static)" if member.static else ""
            rows.append((label + kind, _member_state(member)))
        waiting = len(queue.callers)
        headline = f"*{info.display_name}* — {waiting} waiting"
        if waiting:
            headline += f", longest {wait(queue.longest_wait)}"
        blocks.append(
            Table(headline, ("Member", "State"), tuple(rows), empty="Nobody is in it.")
        )
    note = _away_note(control, away, snapshots)
    if note:
        blocks.append(note)
    total = sum(len(q.callers) for s in snapshots.values() for q in s.queues.values())
    summary = f"{plural(len(control.config.queues), 'queue')}, "
    summary += (
        f"{plural(total, 'caller')} waiting." if snapshots else "nothing known yet."
    )
    return Reply(text=summary, blocks=tuple(blocks), public=True)


def _queue(
    snapshots: dict[str, PbxSnapshot], pbx: str, name: str
) -> QueueSnapshot | None:
    snapshot = snapshots.get(pbx)
    return snapshot.queues.get(name) if snapshot else None


async def whoison_reply(
    control: Control, actor: Person, names: list[str] | None
) -> Reply:
    snapshots, away = await look(control)
    chosen = names or list(control.config.queues)
    lines = []
    for name in chosen:
        info = control.config.queues[name]
        queue = _queue(snapshots, info.pbx, name)
        if queue is None:
            lines.append(_no_news(info.display_name, info.pbx, away).text)
            continue
        ready = []
        for member in queue.members.values():
            if member.paused:
                continue
            person = control.person_for_interface(member.interface)
            ready.append(person.name if person else (member.name or member.interface))
        people = join(sorted(ready)) if ready else "nobody"
        lines.append(f"*{info.display_name}*: {people}")
    blocks: list[Section | Note] = [Section("\n".join(lines))]
    note = _away_note(control, away, control.snapshots)
    if note:
        blocks.append(note)
    if len(chosen) == 1:
        return Reply(text=lines[0], blocks=tuple(blocks[1:]), public=True)
    return Reply(text="Taking calls now:", blocks=tuple(blocks), public=True)


async def me_reply(control: Control, person: Person, actor: Person) -> Reply:
    now = control.clock()
    tz = actor.timezone
    memberships = {m.queue: m for m in control.memberships(person.email)}
    rows = []
    for queue in control.queues_of(person.email):
        seen = control.seen(queue, person.email)
        membership = memberships.get(queue)
        if seen is not None and seen.static:
            state = "permanent (static) member"
        elif seen is None:
            # Wanted but not yet seen in Asterisk.
            state = "joining: waiting for the phone system"
        else:
            state = "in"
        if membership and membership.until:
            state += f", until {when(membership.until, tz, now)}"
        rows.append((control.config.queues[queue].display_name, state))
    for seen in control.seen_of(person.email):
        if seen.queue not in memberships and not seen.static:
            name = control.config.queues[seen.queue].display_name
            rows.append((name, "leaving: waiting for the phone system"))

    layers = []
    pauses = {p.layer: p for p in control.pauses(person.email)}
    strongest = control.effective_pause(person.email)
    for layer_pause in sorted(pauses.values(), key=lambda p: p.layer):
        until = (
            f" until {when(layer_pause.until, tz, now)}"
            if layer_pause.until
            else (
                " until you `/unpause`"
                if person.email == actor.email
                else f" until `/unpause {person.email}`"
            )
        )
        if until.strip() in layer_pause.reason:
            until = ""  # "Meeting until 14:30" already says when
        mark = (
            " (this one shows in Asterisk)"
            if layer_pause is strongest and len(pauses) > 1
            else ""
        )
        layers.append(
            (
                layer_pause.layer.label.capitalize(),
                f"paused: {layer_pause.reason}{until}{mark}",
            )
        )

    away = [name for name, pbx in control.pbxes.items() if not pbx.connected]
    whose = "You're" if person.email == actor.email else f"{person.name} is"
    if strongest is not None:
        headline = f"{whose} paused ({strongest.reason})."
    elif taking := [name for name, state in rows if state.startswith(("in", "perm"))]:
        headline = f"{whose} taking calls in {join(taking)}."
    elif rows:
        headline = f"{whose} waiting for the phone system to apply your change."
    else:
        headline = f"{whose} in no queue. `/joinqueue` to take calls."
    blocks: list[Table | Fields | Note] = [
        Table("Queues", ("Queue", "State"), tuple(rows), empty="None."),
    ]
    layers += _automatic_layers(control, person, {p.layer for p in pauses.values()})
    if layers:
        blocks.append(Fields(tuple(layers)))
    else:
        blocks.append(Note("Not paused."))
    note = _away_note(control, away, control.snapshots)
    if note:
        blocks.append(note)
    blocks += _calendar_notes(control, person)
    return Reply(text=headline, blocks=tuple(blocks))


def _automatic_layers(
    control: Control, person: Person, paused: set[Layer]
) -> list[tuple[str, str]]:
    """With a calendar source, the calendar and presence layers say "not now" too."""
    rules = control.config.settings.calendar
    if rules.source == "none":
        return []
    # Presence is read only from Graph, and only when it is switched on.
    with_presence = rules.source == "graph" and rules.presence
    shown = (Layer.CALENDAR, Layer.PRESENCE) if with_presence else (Layer.CALENDAR,)
    return [
        (layer.label.capitalize(), "not pausing")
        for layer in shown
        if layer not in paused
    ]


def _calendar_notes(control: Control, person: Person) -> list[Note]:
    rules = control.config.settings.calendar
    if rules.source == "none":
        return []
    upcoming, trouble = calendar_status(control, person.email, rules)
    notes = [Note(f"Next change: {upcoming}.")] if upcoming else []
    if trouble:
        notes.append(Note(trouble))
    return notes
