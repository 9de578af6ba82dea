"""The core: desired state in, the smallest set of Asterisk changes out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.config import Config
from bot.domain import (
    Layer,
    Member,
    Membership,
    Pause,
    PbxSnapshot,
    Person,
    pause_reason,
)
from bot.errors import (
    AlreadyDone,
    CcbotError,
    NoSuchQueue,
    NotAMember,
    NotFound,
    PbxRefused,
    PbxUnavailable,
    StaticMember,
)
from bot.overrides import set_override
from bot.protocols import Action, AddMember, PauseMember, Pbx, RemoveMember, Timers
from bot.reconcile import Want, decide, seen_after, seen_applied
from bot.store import Seen, Store

log = logging.getLogger(__name__)

PHONE_PAUSE_REASON = "Paused on the phone"
IN_FLIGHT = 64  # AMI actions pipelined at once during a reconcile

Listener = Callable[[str], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What one intent did, queue by queue."""

    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    failed: dict[str, CcbotError] = field(default_factory=dict)
    pending_error: PbxUnavailable | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class ReconcileReport:
    pbx: str
    restarted: bool = False
    adopted: int = 0
    actions: int = 0
    failed: int = 0


class Control:
    def __init__(
        self,
        config: Config,
        store: Store,
        pbxes: Mapping[str, Pbx],
        clock: Callable[[], datetime] = utcnow,
        timers: Timers | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.pbxes = dict(pbxes)
        self.clock = clock
        self.timers = timers
        self.listeners: list[Listener] = []
        self.snapshots: dict[str, PbxSnapshot] = {}
        self._locks = {name: asyncio.Lock() for name in self.pbxes}
        self._people: dict[str, Person] = {}
        self._by_interface: dict[str, str] = {}
        self._seen: dict[tuple[str, str], Seen] = {}
        self._dirty: dict[tuple[str, str], Seen | None] = {}
        self._expiry_keys: set[str] = set()
        self._warned_missing: set[str] = set()
        self.reload()

    # state loading

    def reload(self) -> None:
        """Read people, desired state and what was last seen from the store."""
        self.store.refresh()
        self._people = {p.email: p for p in self.store.people()}
        self._by_interface = {p.interface: p.email for p in self._people.values()}
        self._seen = self.store.seen(self.config.queues)
        self._dirty.clear()

    def catch_up(self) -> bool:
        """Re-read the store if another process (`ccbot say`) committed to it.

        `say` saves its intent before it sends the AMI action, so checking here
        before an event is judged keeps its echo from looking like an outside
        change.
        """
        if not self.store.changed_elsewhere():
            return False
        log.debug("store changed by another process; re-reading")
        self.flush()
        self.reload()
        self.arm_expiry()
        return True

    def flush(self) -> None:
        """Write what ccbot saw in Asterisk since the last flush."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        present = [s for s in dirty.values() if s is not None]
        absent = [key for key, s in dirty.items() if s is None]
        with self.store.transaction():
            self.store.save_seen(present, absent)

    def _set_seen(self, key: tuple[str, str], seen: Seen | None) -> None:
        if seen is None:
            self._seen.pop(key, None)
        else:
            self._seen[key] = seen
        self._dirty[key] = seen

    # look-ups

    def person(self, email: str) -> Person:
        person = self._people.get(email.lower())
        if person is None:
            raise NotFound(email)
        return person

    def find_person(self, email: str) -> Person | None:
        return self._people.get(email.lower())

    def person_for_interface(self, interface: str) -> Person | None:
        email = self._by_interface.get(interface)
        return self._people.get(email) if email else None

    def seen(self, queue: str, email: str) -> Seen | None:
        return self._seen.get((queue, email))

    def seen_of(self, email: str) -> list[Seen]:
        # One look-up per configured queue: this runs for every person a
        # calendar refresh changes, so no scan of everything seen.
        found = (self._seen.get((queue, email)) for queue in self.config.queues)
        return [seen for seen in found if seen is not None]

    def memberships(self, email: str) -> list[Membership]:
        return self.store.memberships(email)

    def pauses(self, email: str) -> list[Pause]:
        now = self.clock()
        return [p for p in self.store.pauses(email) if p.until is None or p.until > now]

    def effective_pause(self, email: str) -> Pause | None:
        """The strongest layer that says the person should not ring."""
        return min(self.pauses(email), key=lambda p: p.layer, default=None)

    def queues_of(self, email: str) -> list[str]:
        """Queues the person is in or wants to be in, static ones included."""
        wanted = {m.queue for m in self.store.memberships(email)}
        static = {seen.queue for seen in self.seen_of(email) if seen.static}
        return sorted(wanted | static)

    def _want(self, email: str, queue: str, members: set[tuple[str, str]]) -> Want:
        pause = self.effective_pause(email)
        return Want(
            member=(email, queue) in members,
            paused=pause is not None,
            reason=pause.reason if pause else "",
        )

    # intents

    async def join(
        self, person: Person, queues: Iterable[str], until: datetime | None = None
    ) -> Outcome:
        names = list(queues)
        self._check_queues(names)
        now = self.clock()
        for queue in names:
            self.store.set_membership(Membership(person.email, queue, until), now)
        log.info("%s wants to be in %s until %s", person.email, names, until)
        outcome = await self.apply(person, names)
        self._arm_at(until)
        return outcome

    async def leave(self, person: Person, queues: Iterable[str]) -> Outcome:
        names = list(queues)
        self._check_queues(names)
        static = [q for q in names if (s := self.seen(q, person.email)) and s.static]
        if static:
            raise StaticMember(", ".join(static))
        for queue in names:
            self.store.remove_membership(person.email, queue)
        log.info("%s wants to leave %s", person.email, names)
        return await self.apply(person, names)

    async def pause(
        self,
        person: Person,
        reason: str,
        until: datetime | None = None,
        layer: Layer = Layer.MANUAL,
        source: str = "ccbot",
    ) -> Outcome:
        pause = Pause(person.email, layer, pause_reason(reason), until, source)
        self.store.set_pause(pause, self.clock())
        log.info(
            "%s paused (%s: %s) until %s", person.email, layer.label, reason, until
        )
        outcome = await self.apply(person, self.queues_of(person.email))
        self._arm_at(until)
        return outcome

    async def unpause(self, person: Person, layer: Layer = Layer.MANUAL) -> Outcome:
        self.store.clear_pause(person.email, layer)
        if layer is Layer.MANUAL:
            self._override_automatic(person.email)
        log.info("%s unpaused (%s)", person.email, layer.label)
        return await self.apply(person, self.queues_of(person.email))

    def _override_automatic(self, email: str) -> None:
        """A person's own unpause also outranks the meeting or call now running.

        The calendar layer stays off until that meeting ends; the presence
        layer until Teams stops saying "in a call".
        """
        now = self.clock()
        for pause in self.pauses(email):
            if pause.layer in (Layer.CALENDAR, Layer.PRESENCE):
                set_override(self.store, email, pause.layer, pause.until, now)
                self.store.clear_pause(email, pause.layer)
                log.info(
                    "%s stays available through the %s pause", email, pause.layer.label
                )

    def _check_queues(self, names: list[str]) -> None:
        unknown = [q for q in names if q not in self.config.queues]
        if unknown:
            raise NotFound(", ".join(unknown))

    # applying intents

    async def apply(self, person: Person, queues: Iterable[str]) -> Outcome:
        """Close the gap for one person, taking Asterisk to be as last seen."""
        outcome = Outcome()
        members = {(m.email, m.queue) for m in self.store.memberships(person.email)}
        jobs = [self._apply_pair(person, q, members, outcome) for q in queues]
        await asyncio.gather(*jobs)
        self.flush()
        await self._tell(person.email)
        return outcome

    async def _apply_pair(
        self,
        person: Person,
        queue: str,
        members: set[tuple[str, str]],
        outcome: Outcome,
    ) -> None:
        key = (queue, person.email)
        want = self._want(person.email, queue, members)
        # A retry covers a stale base: "already there" or "not found" means
        # Asterisk was not as last seen, and the second pass knows better.
        for _ in range(2):
            seen = self._seen.get(key)
            observed = _member_from_seen(seen, person)
            decision = decide(person, queue, want, seen, observed)
            if not decision.actions:
                outcome.applied.append(queue)
                return
            try:
                await self._send(
                    self.config.queues[queue].pbx, person, decision.actions[0]
                )
            except (AlreadyDone, NotAMember):
                self._set_seen(
                    key, _after_already(queue, person, decision.actions[0], seen)
                )
                continue
            except PbxUnavailable as exc:
                log.warning(
                    "%s: change for %s saved for later: %s", queue, person.email, exc
                )
                outcome.pending.append(queue)
                outcome.pending_error = exc
                return
            except StaticMember as exc:
                self._set_seen(key, Seen(queue, person.email, static=True))
                outcome.failed[queue] = exc
                return
            except NoSuchQueue as exc:
                # The config names a queue Asterisk lacks: keep nothing of
                # the intent, so the refusal is the whole story.
                if isinstance(decision.actions[0], AddMember):
                    self.store.remove_membership(person.email, queue)
                log.warning("%s: %s (check queues.conf or the config)", queue, exc)
                outcome.failed[queue] = exc
                return
            except PbxRefused as exc:
                log.warning(
                    "%s: Asterisk refused a change for %s: %s", queue, person.email, exc
                )
                outcome.failed[queue] = exc
                return
        outcome.applied.append(queue)

    async def _send(self, pbx_name: str, person: Person, action: Action) -> None:
        pbx = self.pbxes.get(pbx_name)
        if pbx is None:
            raise PbxUnavailable(pbx_name)
        await pbx.send(action)
        key = (action.queue, person.email)
        self._set_seen(
            key, seen_applied(action.queue, person, action, self._seen.get(key))
        )
        log.info("%s: %s for %s", action.queue, _describe(action), person.email)

    # reconciling with a fresh look at Asterisk

    async def reconcile(self, pbx_name: str) -> ReconcileReport:
        """Adopt outside changes, then apply every intent still open."""
        pbx = self.pbxes[pbx_name]
        async with self._locks[pbx_name]:
            snapshot = await pbx.snapshot()
            report = ReconcileReport(pbx_name)
            queues = [
                q for q in self.config.queues_on(pbx_name) if q in snapshot.queues
            ]
            missing_queues = set(self.config.queues_on(pbx_name)) - set(queues)
            for missing in missing_queues - self._warned_missing:
                self._warned_missing.add(missing)
                log.warning(
                    "queue %s is in the config but Asterisk %s has no such queue: "
                    "add it to queues.conf or remove it from the config",
                    missing,
                    pbx_name,
                )
            report.restarted = self._note_startup(pbx_name, snapshot.startup, queues)
            self.snapshots[pbx_name] = snapshot

            observed = self._observed(snapshot, queues)
            report.adopted = self._adopt(observed, queues)
            for key in self._pairs(observed, queues):
                self._set_seen(key, self._seen_from_observed(key, observed))

            report.actions, report.failed = await self._act_all(queues)
            self.flush()
            self.arm_expiry()
        log.info(
            "reconciled %s: %s adopted, %s actions, %s failed%s",
            pbx_name,
            report.adopted,
            report.actions,
            report.failed,
            " (after an Asterisk restart)" if report.restarted else "",
        )
        return report

    def _note_startup(self, pbx_name: str, startup: str, queues: list[str]) -> bool:
        last = self.store.pbx_startup(pbx_name)
        if last == startup:
            return False
        self.store.set_pbx_startup(pbx_name, startup)
        if last is None:
            return False
        log.warning("Asterisk %s restarted at %s: restoring members", pbx_name, startup)
        for key in [k for k in self._seen if k[0] in queues]:
            self._set_seen(key, None)
        return True

    def _observed(
        self, snapshot: PbxSnapshot, queues: list[str]
    ) -> dict[tuple[str, str], Member]:
        observed: dict[tuple[str, str], Member] = {}
        for queue in queues:
            for member in snapshot.queues[queue].members.values():
                email = self._by_interface.get(member.interface)
                if email:
                    observed[(queue, email)] = member
        return observed

    def _pairs(
        self, observed: Mapping[tuple[str, str], Member], queues: list[str]
    ) -> set[tuple[str, str]]:
        wanted = {
            (m.queue, m.email) for m in self.store.memberships() if m.queue in queues
        }
        seen = {k for k in self._seen if k[0] in queues}
        return wanted | seen | set(observed)

    def _seen_from_observed(
        self, key: tuple[str, str], observed: Mapping[tuple[str, str], Member]
    ) -> Seen | None:
        person = self._people.get(key[1])
        return seen_after(key[0], person, observed.get(key)) if person else None

    def _adopt(
        self, observed: Mapping[tuple[str, str], Member], queues: list[str]
    ) -> int:
        """Take in what changed in Asterisk behind ccbot's back."""
        members = {(m.email, m.queue) for m in self.store.memberships()}
        adopted = 0
        for queue, email in sorted(self._pairs(observed, queues)):
            person = self._people.get(email)
            if person is None:
                continue
            key = (queue, email)
            want = self._want(email, queue, members)
            decision = decide(
                person, queue, want, self._seen.get(key), observed.get(key)
            )
            if self._take_adoption(
                person, queue, decision.adopt_member, decision.adopt_pause
            ):
                adopted += 1
                members = {(m.email, m.queue) for m in self.store.memberships()}
        return adopted

    def _take_adoption(
        self,
        person: Person,
        queue: str,
        member: bool | None,
        pause: tuple[bool, str] | None,
    ) -> bool:
        now = self.clock()
        if member is True:
            self.store.set_membership(
                Membership(person.email, queue, None, "asterisk"), now
            )
            log.info("%s: adopted %s, added outside ccbot", queue, person.email)
        elif member is False:
            self.store.remove_membership(person.email, queue)
            log.info(
                "%s: adopted removal of %s, made outside ccbot", queue, person.email
            )
        if pause is not None:
            paused, reason = pause
            if paused:
                manual = Pause(
                    person.email,
                    Layer.MANUAL,
                    pause_reason(reason) or PHONE_PAUSE_REASON,
                    None,
                    "asterisk",
                )
                self.store.set_pause(manual, now)
                log.info("%s: adopted a pause of %s (%s)", queue, person.email, reason)
            else:
                self.store.clear_pause(person.email, Layer.MANUAL)
                self._override_automatic(person.email)
                log.info("%s: adopted an unpause of %s", queue, person.email)
        return member is not None or pause is not None

    async def _act_all(self, queues: list[str]) -> tuple[int, int]:
        members = {(m.email, m.queue) for m in self.store.memberships()}
        pauses = {p.email: p for p in self._strongest_pauses()}
        limit = asyncio.Semaphore(IN_FLIGHT)
        work: list[Awaitable[bool]] = []
        for queue, email in self._pairs({}, queues):
            person = self._people.get(email)
            if person is None:
                continue
            pause = pauses.get(email)
            want = Want(
                (email, queue) in members,
                pause is not None,
                pause.reason if pause else "",
            )
            seen = self._seen.get((queue, email))
            decision = decide(
                person, queue, want, seen, _member_from_seen(seen, person)
            )
            for action in decision.actions:
                work.append(self._act_one(limit, person, action))
        results = await asyncio.gather(*work)
        return len(results), results.count(False)

    async def _act_one(
        self, limit: asyncio.Semaphore, person: Person, action: Action
    ) -> bool:
        async with limit:
            try:
                await self._send(self.config.queues[action.queue].pbx, person, action)
            except (AlreadyDone, NotAMember):
                key = (action.queue, person.email)
                self._set_seen(
                    key,
                    _after_already(action.queue, person, action, self._seen.get(key)),
                )
            except CcbotError as exc:
                log.warning(
                    "%s: could not apply %s for %s: %s",
                    action.queue,
                    _describe(action),
                    person.email,
                    exc,
                )
                return False
        return True

    def _strongest_pauses(self) -> list[Pause]:
        now = self.clock()
        strongest: dict[str, Pause] = {}
        for pause in self.store.pauses():
            if pause.until is not None and pause.until <= now:
                continue
            current = strongest.get(pause.email)
            if current is None or pause.layer < current.layer:
                strongest[pause.email] = pause
        return list(strongest.values())

    # events from Asterisk

    async def on_member(
        self, pbx_name: str, queue: str, interface: str, member: Member | None
    ) -> None:
        """A member was added, removed or (un)paused: adopt or re-apply.

        This runs for every member event, most of them echoes of ccbot's own
        actions, so the common case only notes what Asterisk now shows.
        """
        self.catch_up()
        person = self.person_for_interface(interface)
        if person is None or queue not in self.config.queues:
            return
        key = (queue, person.email)
        members = {(m.email, m.queue) for m in self.store.memberships(person.email)}
        want = self._want(person.email, queue, members)
        decision = decide(person, queue, want, self._seen.get(key), member)
        self._set_seen(key, seen_after(queue, person, member))
        if not self._take_adoption(
            person, queue, decision.adopt_member, decision.adopt_pause
        ):
            return
        if decision.adopt_pause is not None:
            # A pause is the person's, not the queue's: carry it to the others.
            others = [q for q in self.queues_of(person.email) if q != queue]
            await self.apply(person, others)
        else:
            await self._tell(person.email)

    # time-boxed joins and pauses

    async def expire_due(self) -> None:
        """End every join and pause whose time is up."""
        now = self.clock()
        ended: dict[str, list[str]] = {}
        for membership in self.store.memberships():
            if membership.until is not None and membership.until <= now:
                self.store.remove_membership(membership.email, membership.queue)
                ended.setdefault(membership.email, []).append(membership.queue)
                log.info(
                    "%s: time-boxed join of %s ended",
                    membership.queue,
                    membership.email,
                )
        for pause in self.store.pauses():
            if pause.until is not None and pause.until <= now:
                self.store.clear_pause(pause.email, pause.layer)
                ended.setdefault(pause.email, [])
                log.info("%s pause of %s ended", pause.layer.label, pause.email)
        for email, queues in ended.items():
            person = self.find_person(email)
            if person is not None:
                await self.apply(
                    person, sorted(set(queues) | set(self.queues_of(email)))
                )
        self.arm_expiry()

    def _arm_at(self, until: datetime | None) -> None:
        """One timer for one new end time.

        A timer left over for something cleared early finds nothing due when
        it fires, so timers are never cancelled one by one; re-arming them all
        after each change made a refresh of N people cost O(N²).
        """
        if self.timers is None or until is None:
            return
        key = f"expire:{until.isoformat()}"
        if key not in self._expiry_keys:
            self._expiry_keys.add(key)
            self.timers.at(key, until, self.expire_due)

    def arm_expiry(self) -> None:
        """Every timer from the store: on start and after another process wrote."""
        if self.timers is None:
            return
        moments = {m.until for m in self.store.memberships() if m.until}
        moments |= {p.until for p in self.store.pauses() if p.until}
        keys = {f"expire:{m.isoformat()}": m for m in moments if m is not None}
        for key in self._expiry_keys - keys.keys():
            self.timers.cancel(key)
        for key, when in keys.items():
            if key not in self._expiry_keys:
                self.timers.at(key, when, self.expire_due)
        self._expiry_keys = set(keys)

    async def _tell(self, email: str) -> None:
        for listener in self.listeners:
            try:
                await listener(email)
            except Exception:
                log.exception("state listener failed for %s", email)


def _member_from_seen(seen: Seen | None, person: Person) -> Member | None:
    if seen is None:
        return None
    return Member(
        queue=seen.queue,
        interface=person.interface,
        name=person.name,
        static=seen.static,
        paused=seen.paused,
        reason=seen.reason,
    )


def _after_already(
    queue: str, person: Person, action: Action, seen: Seen | None
) -> Seen | None:
    """Asterisk was already as asked for: note it so the next pass is right."""
    match action:
        case AddMember():
            # A member we did not know about; its pause state is unknown, so
            # take it as unpaused and let the next pass set the pause.
            return Seen(queue, person.email, False, False, "")
        case RemoveMember():
            return None
        case PauseMember():
            return None  # it is not a member after all
    return seen


def _describe(action: Action) -> str:
    match action:
        case AddMember(paused=True, reason=reason):
            return f"added (paused: {reason})"
        case AddMember():
            return "added"
        case RemoveMember():
            return "removed"
        case PauseMember(paused=True, reason=reason):
            return f"paused ({reason})"
        case PauseMember():
            return "unpaused"
    return repr(action)


async def look(control: Control) -> tuple[dict[str, PbxSnapshot], list[str]]:
    """A fresh snapshot of every phone system, or the last one for those away."""
    snapshots: dict[str, PbxSnapshot] = {}
    away: list[str] = []
    for name, pbx in control.pbxes.items():
        try:
            snapshots[name] = await pbx.snapshot()
            control.snapshots[name] = snapshots[name]
        except PbxUnavailable:
            away.append(name)
            if name in control.snapshots:
                snapshots[name] = control.snapshots[name]
    return snapshots, away
