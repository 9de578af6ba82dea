"""Desired state against what Asterisk reports: the smallest set of actions.

The base for every decision is what ccbot last *saw* in Asterisk. When Asterisk
differs from that base, someone changed it outside ccbot and the change is
adopted. When only the desired state differs from it, the change is ccbot's
own intent and is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Member, Person
from bot.protocols import Action, AddMember, PauseMember, RemoveMember
from bot.store import Seen


@dataclass(frozen=True)
class Want:
    """What one person should look like in one queue."""

    member: bool
    paused: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...] = ()
    adopt_member: bool | None = None  # outside change to the membership
    adopt_pause: tuple[bool, str] | None = None  # outside pause or unpause
    static: bool = False


def decide(
    person: Person, queue: str, want: Want, seen: Seen | None, observed: Member | None
) -> Decision:
    """Decide one (person, queue) pair."""
    if observed is not None and observed.static:
        return _decide_pause(person, queue, want, seen, observed, static=True)

    is_in, was_in = observed is not None, seen is not None
    if is_in != was_in and is_in != want.member:
        return Decision(adopt_member=is_in, adopt_pause=_pause_adoption(want, observed))

    if want.member and not is_in:
        action = AddMember(
            queue=queue,
            interface=person.interface,
            name=person.name,
            state_interface=person.state_interface,
            paused=want.paused,
            reason=want.reason if want.paused else "",
        )
        return Decision(actions=(action,))
    if not want.member and is_in:
        return Decision(
            actions=(RemoveMember(queue=queue, interface=person.interface),)
        )
    if not is_in:
        return Decision()
    return _decide_pause(person, queue, want, seen, observed)


def _pause_adoption(want: Want, observed: Member | None) -> tuple[bool, str] | None:
    """An adopted member brings its pause state with it."""
    if observed is None or observed.paused == want.paused:
        return None
    return (observed.paused, observed.reason)


def _decide_pause(
    person: Person,
    queue: str,
    want: Want,
    seen: Seen | None,
    observed: Member | None,
    static: bool = False,
) -> Decision:
    assert observed is not None
    was_paused = seen.paused if seen is not None else False
    if observed.paused != was_paused and observed.paused != want.paused:
        return Decision(adopt_pause=(observed.paused, observed.reason), static=static)

    reason = want.reason if want.paused else ""
    if observed.paused == want.paused and (
        not want.paused or observed.reason == reason
    ):
        return Decision(static=static)
    action = PauseMember(
        queue=queue, interface=person.interface, paused=want.paused, reason=reason
    )
    return Decision(actions=(action,), static=static)


def seen_after(queue: str, person: Person, observed: Member | None) -> Seen | None:
    if observed is None:
        return None
    return Seen(
        queue=queue,
        email=person.email,
        static=observed.static,
        paused=observed.paused,
        reason=observed.reason,
    )


def seen_applied(
    queue: str, person: Person, action: Action, before: Seen | None
) -> Seen | None:
    """What Asterisk looks like once an action has succeeded."""
    match action:
        case AddMember(paused=paused, reason=reason):
            return Seen(queue, person.email, False, paused, reason)
        case RemoveMember():
            return None
        case PauseMember(paused=paused, reason=reason):
            static = before.static if before else False
            return Seen(queue, person.email, static, paused, reason)
    raise AssertionError(action)
