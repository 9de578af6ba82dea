"""Call tracking: one record per caller per queue, fed by the phone system's events.

The AMI adapter turns Asterisk events into the small event values below; the
tracker keeps open calls in memory, settles each one exactly once, tells its
listeners (alerts, nudges, agent notices) and writes behind in batches, so the
per-event work on the event loop stays a dictionary update.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from bot.config import CallsSettings, Config, QueueSettings
from bot.domain import PbxSnapshot, Person

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2  # write-behind period: calls and rings reach SQLite this late
ALERT_RESTART_WINDOW = 3600.0  # settle-after-restart calls younger than this alert
UNKNOWN_NUMBERS = frozenset({"", "<unknown>", "unknown", "anonymous", "restricted"})


class Outcome(enum.StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # the caller hung up while waiting
    UNANSWERED = "unanswered"  # left the queue unanswered (timeout, empty queue…)
    TRANSFERRED = "transferred"  # answered, then transferred away

    @property
    def missed(self) -> bool:
        return self in (Outcome.ABANDONED, Outcome.UNANSWERED)


# Events, as the adapter maps them. `at` is UTC epoch seconds.


@dataclass(frozen=True)
class CallerJoined:
    pbx: str
    uniqueid: str
    queue: str
    number: str
    name: str
    at: float


@dataclass(frozen=True)
class AgentRung:
    pbx: str
    uniqueid: str
    queue: str
    interface: str
    member: str
    at: float


@dataclass(frozen=True)
class RingUnanswered:
    pbx: str
    uniqueid: str
    queue: str
    interface: str
    member: str
    ring_ms: int
    at: float


@dataclass(frozen=True)
class CallAnswered:
    pbx: str
    uniqueid: str
    queue: str
    interface: str
    member: str
    hold: int
    at: float


@dataclass(frozen=True)
class CallCompleted:
    pbx: str
    uniqueid: str
    queue: str
    talk: int
    transferred: bool
    at: float


@dataclass(frozen=True)
class CallerLeft:
    """Left the queue without an agent: abandoned or unanswered."""

    pbx: str
    uniqueid: str
    queue: str
    outcome: Outcome
    wait: int | None
    at: float


@dataclass(frozen=True)
class CallTransferred:
    pbx: str
    uniqueid: str
    at: float


@dataclass(frozen=True)
class MemberPaused:
    pbx: str
    queue: str
    interface: str
    member: str
    paused: bool
    reason: str
    at: float
    auto: bool = False  # the phone system paused them after unanswered rings


CallEvent = (
    CallerJoined
    | AgentRung
    | RingUnanswered
    | CallAnswered
    | CallCompleted
    | CallerLeft
    | CallTransferred
    | MemberPaused
)


@dataclass
class CallRecord:
    """One caller in one queue, from joining until settled."""

    pbx: str
    uniqueid: str
    queue: str
    number: str
    name: str
    joined: float
    number_key: str = ""
    answered: float | None = None
    ended: float | None = None
    wait: int | None = None
    talk: int | None = None
    outcome: Outcome | None = None
    agent: str = ""  # email when the interface is a known person, else interface
    agent_name: str = ""
    rung: list[str] = field(default_factory=list)  # names, in ringing order
    missed_by: list[str] = field(default_factory=list)  # rang, never answered
    settled: str = ""  # "restart" when settled from QueueStatus after a restart
    transferred: bool = False  # a transfer was seen before AgentComplete

    @property
    def key(self) -> tuple[str, str]:
        return (self.pbx, self.uniqueid)

    @property
    def open(self) -> bool:
        return self.outcome is None

    def row(self) -> dict[str, Any]:
        return {
            "pbx": self.pbx,
            "uniqueid": self.uniqueid,
            "queue": self.queue,
            "number": self.number,
            "number_key": self.number_key,
            "name": self.name,
            "joined": self.joined,
            "answered": self.answered,
            "ended": self.ended,
            "wait": self.wait,
            "talk": self.talk,
            "outcome": self.outcome.value if self.outcome else None,
            "agent": self.agent,
            "agent_name": self.agent_name,
            "rung": json.dumps(self.rung, ensure_ascii=False),
            "missed_by": json.dumps(self.missed_by, ensure_ascii=False),
            "settled": self.settled,
        }


@dataclass(frozen=True)
class QueueRules:
    """A queue's call settings with the [calls] and [digest] defaults applied."""

    queue: str
    display_name: str
    channels: tuple[str, ...]
    service_level_seconds: int
    short_abandon_seconds: int
    nudge_callers: int
    nudge_wait_seconds: int
    nudge_cooldown_minutes: int
    digest_channels: tuple[str, ...]
    digest_people: tuple[str, ...]
    digest_time: str
    digest_timezone: str


def queue_rules(config: Config, queue: str) -> QueueRules:
    settings = config.settings
    found: QueueSettings = next(q for q in settings.queue if q.name == queue)
    calls, digest = settings.calls, settings.digest

    def pick[T](value: T | None, default: T) -> T:
        return default if value is None else value

    return QueueRules(
        queue=queue,
        display_name=config.queues[queue].display_name,
        channels=tuple(found.channels),
        service_level_seconds=pick(
            found.service_level_seconds, calls.service_level_seconds
        ),
        short_abandon_seconds=pick(
            found.short_abandon_seconds, calls.short_abandon_seconds
        ),
        nudge_callers=found.nudge_callers,
        nudge_wait_seconds=found.nudge_wait_seconds,
        nudge_cooldown_minutes=found.nudge_cooldown_minutes,
        digest_channels=tuple(pick(found.digest_channels, digest.channels)),
        digest_people=tuple(pick(found.digest_people, digest.people)),
        digest_time=pick(found.digest_time, digest.time),
        digest_timezone=pick(found.digest_timezone, digest.timezone),
    )


# Phone numbers


def _parsed(number: str, region: str) -> phonenumbers.PhoneNumber | None:
    if number.strip().lower() in UNKNOWN_NUMBERS:
        return None
    try:
        return phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None


def number_key(number: str, region: str) -> str:
    """The same number written two ways gives the same key (E.164 when it parses)."""
    if number.strip().lower() in UNKNOWN_NUMBERS:
        return ""  # hidden numbers must never match one another
    parsed = _parsed(number, region)
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        return number.strip()
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_number(number: str, settings: CallsSettings) -> str:
    """A number for people: national in the default region, else international."""
    parsed = _parsed(number, settings.default_region)
    if parsed is not None and not phonenumbers.is_possible_number(parsed):
        parsed = None  # an internal extension or a label: show it as given
    if parsed is None:
        text = number.strip()
        if text.lower() in UNKNOWN_NUMBERS:
            return "a hidden number"
    else:
        home = phonenumbers.region_code_for_number(parsed) == settings.default_region
        style = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if home and phonenumbers.is_valid_number(parsed)
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        text = phonenumbers.format_number(parsed, style)
    return mask(text, settings.visible_digits) if settings.mask_numbers else text


def mask(text: str, visible: int) -> str:
    """Hide all digits but the last ``visible``, keeping a leading +country code."""
    digits = sum(ch.isdigit() for ch in text)
    keep_from = digits - visible
    country_end = text.find(" ") if text.startswith("+") else -1
    out, seen = [], 0
    for index, ch in enumerate(text):
        if ch.isdigit():
            hide = seen < keep_from and index > country_end
            out.append("•" if hide else ch)
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def local_midnight(moment: float, timezone: str) -> float:
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(moment, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


# Storage: a connection of its own, used from a worker thread


class CallDb:
    """The call tables, written and read off the event loop.

    sqlite3 connections are not shared between threads by default, so this one
    is opened for use from ``asyncio.to_thread`` and guarded by a lock.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout = 5000")
        # WAL keeps the database consistent with NORMAL; a crash can lose at most
        # the last commits, which the restart settle recovers from QueueStatus.
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def run[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self.lock:
            return work(self.conn)

    async def arun[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self.run, work)

    # writes

    @staticmethod
    def write(
        conn: sqlite3.Connection,
        calls: Sequence[dict[str, Any]],
        rings: Sequence[tuple[Any, ...]],
        pauses: Sequence[tuple[Any, ...]],
    ) -> None:
        with conn:
            if calls:
                columns = list(calls[0])
                updates = ", ".join(
                    f"{c} = excluded.{c}"
                    for c in columns
                    if c not in ("pbx", "uniqueid", "queue")
                )
                conn.executemany(
                    f"INSERT INTO calls ({', '.join(columns)}) VALUES "
                    f"({', '.join(':' + c for c in columns)}) "
                    f"ON CONFLICT (pbx, uniqueid, queue) DO UPDATE SET {updates}",
                    calls,
                )
            if rings:
                conn.executemany(
                    "INSERT INTO rings (pbx, uniqueid, queue, interface, agent, "
                    "member, at, ring_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rings,
                )
            if pauses:
                conn.executemany(
                    "INSERT INTO member_pauses (pbx, queue, interface, agent, member, "
                    "paused, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    pauses,
                )

    @staticmethod
    def open_calls(conn: sqlite3.Connection, pbx: str) -> list[CallRecord]:
        rows = conn.execute(
            "SELECT * FROM calls WHERE ended IS NULL AND pbx = ?", [pbx]
        ).fetchall()
        return [record_from_row(row) for row in rows]

    @staticmethod
    def calls_since(conn: sqlite3.Connection, key: str, since: float) -> int:
        row = conn.execute(
            "SELECT COUNT(*) FROM calls WHERE number_key = ? AND joined >= ?",
            [key, since],
        ).fetchone()
        return int(row[0])

    @staticmethod
    def prune(conn: sqlite3.Connection, before: float) -> dict[str, int]:
        counts = {}
        with conn:
            for table, column in (
                ("calls", "joined"),
                ("rings", "at"),
                ("member_pauses", "at"),
                ("alerts", "created"),
                ("digests_sent", "sent"),
            ):
                cursor = conn.execute(
                    f"DELETE FROM {table} WHERE {column} < ?", [before]
                )
                counts[table] = cursor.rowcount
        return counts


def record_from_row(row: sqlite3.Row) -> CallRecord:
    return CallRecord(
        pbx=row["pbx"],
        uniqueid=row["uniqueid"],
        queue=row["queue"],
        number=row["number"] or "",
        name=row["name"] or "",
        joined=row["joined"],
        number_key=row["number_key"] or "",
        answered=row["answered"],
        ended=row["ended"],
        wait=row["wait"],
        talk=row["talk"],
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        agent=row["agent"] or "",
        agent_name=row["agent_name"] or "",
        rung=json.loads(row["rung"] or "[]"),
        missed_by=json.loads(row["missed_by"] or "[]"),
        settled=row["settled"] or "",
    )


# The tracker

CallListener = Callable[[CallRecord], None]
PauseListener = Callable[[MemberPaused, Person | None], None]
QueueListener = Callable[[str], None]


class CallTracker:
    """Open calls in memory, settled once, written behind in batches."""

    def __init__(
        self,
        config: Config,
        db: CallDb,
        person_for_interface: Callable[[str], Person | None] = lambda _: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.db = db
        self.person_for_interface = person_for_interface
        self.clock = clock
        self.region = config.settings.calls.default_region
        self.open: dict[tuple[str, str], CallRecord] = {}
        self.on_missed: list[CallListener] = []
        self.on_answered: list[CallListener] = []
        self.on_settled: list[CallListener] = []
        self.on_paused: list[PauseListener] = []
        self.on_backlog: list[QueueListener] = []
        self._dirty: dict[tuple[str, str, str], CallRecord] = {}
        self._rings: list[tuple[Any, ...]] = []
        self._pauses: list[tuple[Any, ...]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._closed = False

    # reading

    def waiting(self, queue: str) -> list[CallRecord]:
        """Callers in the queue now, not yet answered or gone."""
        return [
            r
            for r in self.open.values()
            if r.queue == queue and r.answered is None and r.outcome is None
        ]

    def is_waiting(self, pbx: str, uniqueid: str) -> bool:
        record = self.open.get((pbx, uniqueid))
        return record is not None and record.answered is None

    async def calls_today(self, number: str, timezone: str) -> int:
        """Calls from this number since local midnight, in every queue."""
        key = number_key(number, self.region)
        if not key:
            return 1  # a hidden number: this call is all that is known
        await self.flush()
        since = local_midnight(self.clock(), timezone)
        return await self.db.arun(lambda c: CallDb.calls_since(c, key, since))

    # events

    def handle(self, event: CallEvent) -> None:
        """Take one event; never raises into the AMI reader."""
        try:
            self._handle(event)
        except Exception:
            log.exception("call event %s failed", type(event).__name__)
        self._ensure_flusher()

    def _handle(self, event: CallEvent) -> None:
        match event:
            case CallerJoined():
                self._joined(event)
            case AgentRung():
                self._rung(event)
            case RingUnanswered():
                self._ring_unanswered(event)
            case CallAnswered():
                self._answered(event)
            case CallCompleted():
                self._completed(event)
            case CallerLeft():
                self._left(event)
            case CallTransferred():
                # AgentComplete (with the talk time) still follows: note it only.
                record = self.open.get((event.pbx, event.uniqueid))
                if record is not None and record.answered is not None:
                    record.transferred = True
            case MemberPaused():
                self._paused(event)

    def _joined(self, event: CallerJoined) -> None:
        if event.queue not in self.config.queues:
            return
        record = CallRecord(
            pbx=event.pbx,
            uniqueid=event.uniqueid,
            queue=event.queue,
            number=event.number,
            name=event.name,
            joined=event.at,
            number_key=number_key(event.number, self.region),
        )
        self.open[record.key] = record
        self._mark(record)
        self._tell_backlog(record.queue)

    def _record(self, pbx: str, uniqueid: str, queue: str) -> CallRecord | None:
        record = self.open.get((pbx, uniqueid))
        if record is None or record.queue != queue:
            return None
        return record

    def _agent(self, interface: str, member: str) -> tuple[str, str]:
        person = self.person_for_interface(interface)
        if person is not None:
            return person.email, person.name
        return interface, member or interface

    def _rung(self, event: AgentRung) -> None:
        record = self._record(event.pbx, event.uniqueid, event.queue)
        if record is None:
            return
        _, name = self._agent(event.interface, event.member)
        if name not in record.rung:
            record.rung.append(name)

    def _ring_unanswered(self, event: RingUnanswered) -> None:
        record = self._record(event.pbx, event.uniqueid, event.queue)
        agent, name = self._agent(event.interface, event.member)
        if record is not None and name not in record.missed_by:
            record.missed_by.append(name)
        self._rings.append(
            (
                event.pbx,
                event.uniqueid,
                event.queue,
                event.interface,
                agent,
                name,
                event.at,
                event.ring_ms,
            )
        )

    def _answered(self, event: CallAnswered) -> None:
        record = self._record(event.pbx, event.uniqueid, event.queue)
        if record is None or record.outcome is not None:
            return
        record.agent, record.agent_name = self._agent(event.interface, event.member)
        record.answered = event.at
        record.wait = event.hold
        if record.agent_name in record.missed_by:
            record.missed_by.remove(record.agent_name)
        self._mark(record)
        log.info(
            "%s: call %s from %s answered by %s after %s s",
            record.queue,
            record.uniqueid,
            record.number,
            record.agent,
            record.wait,
        )
        self._tell(self.on_answered, record)
        self._tell_backlog(record.queue)

    def _completed(self, event: CallCompleted) -> None:
        record = self._record(event.pbx, event.uniqueid, event.queue)
        if record is None or record.outcome is not None:
            return
        record.talk = event.talk
        transferred = event.transferred or record.transferred
        outcome = Outcome.TRANSFERRED if transferred else Outcome.ANSWERED
        self._settle(record, outcome, event.at)

    def _left(self, event: CallerLeft) -> None:
        record = self._record(event.pbx, event.uniqueid, event.queue)
        if record is None or record.outcome is not None or record.answered:
            return
        record.wait = (
            event.wait if event.wait is not None else round(event.at - record.joined)
        )
        self._settle(record, event.outcome, event.at)

    def _settle(self, record: CallRecord, outcome: Outcome, at: float) -> None:
        """The one place a call gets its outcome: listeners hear of it once."""
        record.outcome = outcome
        record.ended = at
        self.open.pop(record.key, None)
        self._mark(record)
        if outcome.missed:
            log.info(
                "%s: missed call %s from %s (%s after %s s)",
                record.queue,
                record.uniqueid,
                record.number,
                outcome.value,
                record.wait,
            )
            self._tell(self.on_missed, record)
            self._tell_backlog(record.queue)
        self._tell(self.on_settled, record)

    def _paused(self, event: MemberPaused) -> None:
        person = self.person_for_interface(event.interface)
        agent = person.email if person else event.interface
        self._pauses.append(
            (
                event.pbx,
                event.queue,
                event.interface,
                agent,
                event.member,
                int(event.paused),
                event.reason,
                event.at,
            )
        )
        for listener in self.on_paused:
            try:
                listener(event, person)
            except Exception:
                log.exception("pause listener failed for %s", event.interface)

    def _tell(self, listeners: Iterable[CallListener], record: CallRecord) -> None:
        for listener in listeners:
            try:
                listener(record)
            except Exception:
                log.exception("call listener failed for %s", record.uniqueid)

    def _tell_backlog(self, queue: str) -> None:
        for listener in self.on_backlog:
            try:
                listener(queue)
            except Exception:
                log.exception("backlog listener failed for %s", queue)

    def _mark(self, record: CallRecord) -> None:
        self._dirty[(record.pbx, record.uniqueid, record.queue)] = record

    # restart

    async def settle_open(self, pbx: str, snapshot: PbxSnapshot | None) -> int:
        """After (re)connecting: settle calls that ended while ccbot was away.

        Calls still waiting in QueueStatus stay open (and those that joined
        while ccbot was down are adopted); the rest get their outcome from what
        is known: answered when an agent took them, else unanswered.
        """
        if snapshot is None:
            return 0
        try:
            await self.flush()
            stored = await self.db.arun(lambda c: CallDb.open_calls(c, pbx))
        except sqlite3.Error:
            log.exception("%s: could not read open calls; they stay open", pbx)
            return 0
        known = {r.key: r for r in stored}
        known.update({k: r for k, r in self.open.items() if k[0] == pbx})
        waiting = {
            caller.uniqueid: caller
            for queue in snapshot.queues.values()
            for caller in queue.callers
        }
        now = self.clock()
        settled = 0
        for key, record in known.items():
            if key[1] in waiting:
                self.open[key] = record
                continue
            self.open[key] = record
            record.settled = "restart"
            if record.answered is not None:
                self._settle(record, Outcome.ANSWERED, now)
            elif now - record.joined <= ALERT_RESTART_WINDOW:
                self._settle(record, Outcome.UNANSWERED, now)
            else:
                self._settle_quietly(record, now)
            settled += 1
        self._adopt_waiting(pbx, waiting.values(), known, now)
        await self.flush()
        if settled:
            log.info("%s: settled %s calls left open across a restart", pbx, settled)
        return settled

    def _settle_quietly(self, record: CallRecord, now: float) -> None:
        record.outcome = Outcome.UNANSWERED
        record.ended = now
        self.open.pop(record.key, None)
        self._mark(record)

    def _adopt_waiting(
        self,
        pbx: str,
        callers: Iterable[Any],
        known: dict[tuple[str, str], CallRecord],
        now: float,
    ) -> None:
        for caller in callers:
            if (
                pbx,
                caller.uniqueid,
            ) in known or caller.queue not in self.config.queues:
                continue
            self._joined(
                CallerJoined(
                    pbx,
                    caller.uniqueid,
                    caller.queue,
                    caller.number,
                    caller.name,
                    now - caller.wait,
                )
            )

    # write-behind

    def _ensure_flusher(self) -> None:
        if self._flusher is None and not self._closed:
            with contextlib.suppress(RuntimeError):  # no running loop: flush later
                self._flusher = asyncio.get_running_loop().create_task(
                    self._flush_loop()
                )

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except sqlite3.Error:
                log.exception("could not write call records; will retry")

    async def flush(self) -> None:
        """Write every change since the last flush in one transaction."""
        async with self._flush_lock:
            if not (self._dirty or self._rings or self._pauses):
                return
            dirty, rings, pauses = self._dirty, self._rings, self._pauses
            self._dirty, self._rings, self._pauses = {}, [], []
            calls = [r.row() for r in dirty.values()]
            try:
                await self.db.arun(lambda c: CallDb.write(c, calls, rings, pauses))
            except sqlite3.Error:
                # Keep them for the next flush; newer changes to a call win.
                self._dirty = {**dirty, **self._dirty}
                self._rings = rings + self._rings
                self._pauses = pauses + self._pauses
                raise

    async def close(self) -> None:
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()
