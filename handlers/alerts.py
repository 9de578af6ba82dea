"""Missed-call alerts, backlog nudges and auto-pause notices.

Message models plus the rules for when to post, update and close them. The
buttons carry the action ids below; a chat adapter routes a click to
``Alerts.handle_action(action, value, person)`` and shows what it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.calls import (
    CallDb,
    CallRecord,
    CallTracker,
    MemberPaused,
    Outcome,
    QueueRules,
    format_number,
    queue_rules,
)
from bot.config import Config
from bot.domain import Person
from bot.messages import Button, Buttons, Fields, Note, Reply, Section, plain
from bot.protocols import Chat, MessageRef
from handlers.text import join, wait

log = logging.getLogger(__name__)

# Action ids of the buttons, the same on every chat platform.
ALERT_CLAIM = "ccbot_alert_claim"
ALERT_CALLED_BACK = "ccbot_alert_called_back"
ALERT_NO_NEED = "ccbot_alert_no_need"
NUDGE_JOIN = "ccbot_nudge_join"
ACTIONS = frozenset({ALERT_CLAIM, ALERT_CALLED_BACK, ALERT_NO_NEED, NUDGE_JOIN})

NUDGE_JOIN_FOR = "30m"
NUDGE_TICK_SECONDS = 1.0
NUDGE_UPDATE_SECONDS = 5.0  # at most this often for a changed longest wait
AUTO_PAUSE_NOTICE_SECONDS = 120.0  # one DM per person for a burst of auto-pauses
AUTO_PAUSE_GATHER_SECONDS = 0.3  # the per-queue pause events of one auto-pause

CommandRunner = Callable[[str, str], Awaitable[Reply]]


class AlertState(enum.StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    CALLED_BACK = "called_back"
    NO_NEED = "no_need"
    ANSWERED = "answered"  # a later call from the number was answered

    @property
    def closed(self) -> bool:
        return self not in (AlertState.OPEN, AlertState.CLAIMED)


@dataclass(frozen=True)
class MissedCall:
    """What an alert shows about one missed call."""

    queue: str
    queue_name: str
    number: str  # formatted for people, masked when configured
    caller: str
    waited: int
    outcome: Outcome
    rung: tuple[str, ...]
    missed_by: tuple[str, ...]
    calls_today: int
    at: float
    timezone: str

    def facts(self) -> str:
        data = {**self.__dict__, "outcome": self.outcome.value}
        data["rung"], data["missed_by"] = list(self.rung), list(self.missed_by)
        return json.dumps(data, ensure_ascii=False)

    @staticmethod
    def from_facts(text: str) -> MissedCall:
        data = json.loads(text)
        data["outcome"] = Outcome(data["outcome"])
        data["rung"], data["missed_by"] = tuple(data["rung"]), tuple(data["missed_by"])
        return MissedCall(**data)


@dataclass(frozen=True)
class Alert:
    id: int
    call: MissedCall
    state: AlertState = AlertState.OPEN
    claimed_by: str = ""
    done_by: str = ""
    done_at: float | None = None
    refs: tuple[MessageRef, ...] = ()


def _clock_text(moment: float, timezone: str) -> str:
    return datetime.fromtimestamp(moment, ZoneInfo(timezone)).strftime("%H:%M")


def render_alert(alert: Alert) -> Reply:
    call = alert.call
    who = f"{call.number} ({call.caller})" if call.caller else call.number
    how = (
        "hung up after waiting"
        if call.outcome is Outcome.ABANDONED
        else "left unanswered after"
    )
    summary = f"Missed call in {call.queue_name}: {who} {how} {wait(call.waited)}"
    pairs = [
        ("Caller", who),
        ("Waited", wait(call.waited)),
        ("Rang", _rang_text(call)),
        ("Calls today", str(call.calls_today)),
        ("At", _clock_text(call.at, call.timezone)),
    ]
    blocks: list[Any] = [
        Section(
            f"*Missed call* in *{call.queue_name}*: *{who}* {how} {wait(call.waited)}."
        ),
        Fields(tuple(pairs)),
    ]
    blocks.extend(_alert_footer(alert))
    return Reply(text=summary, blocks=tuple(blocks), public=True)


def _rang_text(call: MissedCall) -> str:
    if not call.rung:
        return "nobody (no one was free)"
    missed = [n for n in call.rung if n in call.missed_by]
    others = [n for n in call.rung if n not in call.missed_by]
    parts = []
    if missed:
        parts.append(f"{join(missed)} (no answer)")
    if others:
        parts.append(f"{join(others)} (still ringing when the caller left)")
    return "; ".join(parts)


def _alert_footer(alert: Alert) -> list[Any]:
    when = (
        f" at {_clock_text(alert.done_at, alert.call.timezone)}"
        if alert.done_at
        else ""
    )
    match alert.state:
        case AlertState.OPEN:
            return [
                Buttons(
                    (
                        Button("I'll call back", ALERT_CLAIM, str(alert.id), "primary"),
                        Button("Called back", ALERT_CALLED_BACK, str(alert.id)),
                        Button("No need", ALERT_NO_NEED, str(alert.id)),
                    )
                )
            ]
        case AlertState.CLAIMED:
            return [
                Note(f"*{alert.claimed_by}* is calling back."),
                Buttons(
                    (
                        Button(
                            "Called back", ALERT_CALLED_BACK, str(alert.id), "primary"
                        ),
                        Button("No need", ALERT_NO_NEED, str(alert.id)),
                    )
                ),
            ]
        case AlertState.CALLED_BACK:
            return [Note(f"Closed: *{alert.done_by}* called back{when}.")]
        case AlertState.NO_NEED:
            return [Note(f"Closed: *{alert.done_by}* marked it as no need{when}.")]
        case AlertState.ANSWERED:
            return [
                Note(
                    f"Closed: the caller called again and *{alert.done_by}* "
                    f"answered{when}."
                )
            ]
    return []


@dataclass
class Nudge:
    queue: str
    queue_name: str
    callers: int
    longest: int
    refs: tuple[MessageRef, ...] = ()
    peak_callers: int = 0
    peak_wait: int = 0
    cleared: bool = False
    updated: float = 0.0
    shown: tuple[int, int] = (0, 0)


def render_nudge(nudge: Nudge) -> Reply:
    name = nudge.queue_name
    if nudge.cleared:
        text = (
            f"Backlog in {name} cleared: at most {nudge.peak_callers} waiting, "
            f"longest wait {wait(nudge.peak_wait)}. Thanks for helping."
        )
        return Reply(text=text, blocks=(Section(text),), public=True)
    people = "caller is" if nudge.callers == 1 else "callers are"
    text = (
        f"{nudge.callers} {people} waiting in {name}, the longest for "
        f"{wait(nudge.longest)}. Can you help?"
    )
    return Reply(
        text=text,
        blocks=(
            Section(
                f"*{nudge.callers} {people} waiting* in *{name}*, the longest for "
                f"*{wait(nudge.longest)}*. Can you help?"
            ),
            Buttons((Button("Join for 30 min", NUDGE_JOIN, nudge.queue, "primary"),)),
            Note(
                f"Joining takes you out of {name} again by yourself after 30 minutes."
            ),
        ),
        public=True,
    )


def render_auto_pause(queue_names: list[str]) -> Reply:
    where = join(queue_names)
    return Reply(
        text=(
            f"The phone system paused you in {where}: a queue call rang your phone "
            "and nobody picked up. Type `/unpause` when you're ready to take calls "
            "again."
        ),
        blocks=(
            Section(
                f"The phone system *paused you* in *{where}*: a queue call rang your "
                "phone and nobody picked up, so callers aren't kept ringing there."
            ),
            Note("Type `/unpause` when you're ready to take calls again."),
        ),
    )


def personal(text: str) -> Reply:
    """A short answer for the person who clicked, not the channel."""
    return Reply(text=text, ok=False, public=False)


# Storage of alerts


def _alert_from_row(row: sqlite3.Row) -> Alert:
    refs = tuple(MessageRef(c, i) for c, i in json.loads(row["refs"] or "[]"))
    done = json.loads(row["done_by"] or "null") or {}
    return Alert(
        id=row["id"],
        call=MissedCall.from_facts(row["facts"]),
        state=AlertState(row["state"]),
        claimed_by=row["claimed_by"] or "",
        done_by=done.get("name", ""),
        done_at=done.get("at"),
        refs=refs,
    )


def _insert_alert(
    conn: sqlite3.Connection, record: CallRecord, facts: str, now: float
) -> int | None:
    """The alert row, or None when this call already has one: never two."""
    with conn:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO alerts (pbx, uniqueid, queue, number_key, state, "
            "created, updated, refs, facts) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?)",
            [
                record.pbx,
                record.uniqueid,
                record.queue,
                record.number_key,
                AlertState.OPEN.value,
                now,
                now,
                facts,
            ],
        )
    return cursor.lastrowid if cursor.rowcount else None


def _save_alert(conn: sqlite3.Connection, alert: Alert, now: float) -> None:
    done = {"name": alert.done_by, "at": alert.done_at} if alert.done_by else None
    with conn:
        conn.execute(
            "UPDATE alerts SET state = ?, claimed_by = ?, done_by = ?, updated = ?, "
            "refs = ? WHERE id = ?",
            [
                alert.state.value,
                alert.claimed_by,
                json.dumps(done, ensure_ascii=False) if done else None,
                now,
                json.dumps([[r.channel, r.id] for r in alert.refs]),
                alert.id,
            ],
        )


def _get_alert(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute("SELECT * FROM alerts WHERE id = ?", [alert_id]).fetchone()
    return _alert_from_row(row) if row else None


def _open_alerts_for(conn: sqlite3.Connection, key: str, before: float) -> list[Alert]:
    rows = conn.execute(
        "SELECT * FROM alerts WHERE number_key = ? AND state IN (?, ?) "
        "AND created <= ?",
        [key, AlertState.OPEN.value, AlertState.CLAIMED.value, before],
    ).fetchall()
    return [_alert_from_row(row) for row in rows]


# The rules


@dataclass
class _QueueNudges:
    current: Nudge | None = None
    quiet_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Alerts:
    """Listens to the call tracker and keeps the channels told."""

    def __init__(
        self,
        config: Config,
        tracker: CallTracker,
        run_command: CommandRunner,
        chat: Chat | None = None,
    ) -> None:
        self.config = config
        self.tracker = tracker
        self.db: CallDb = tracker.db
        self.run_command = run_command
        self.chat = chat
        self.clock = tracker.clock
        self.rules = {q: queue_rules(config, q) for q in config.queues}
        self._tasks: set[asyncio.Task[object]] = set()
        self._action_lock = asyncio.Lock()
        self._nudges = {q: _QueueNudges() for q in config.queues}
        self._ticker: asyncio.Task[None] | None = None
        self._noticed: dict[str, float] = {}
        self._pausing: dict[str, list[str]] = {}
        self._said_no_chat = False
        tracker.on_missed.append(self._missed)
        tracker.on_answered.append(self._answered)
        tracker.on_paused.append(self._paused)
        tracker.on_backlog.append(self._backlog)

    # listeners (sync, on the AMI reader's path: they only spawn work)

    def _missed(self, record: CallRecord) -> None:
        self._spawn(self.post_missed(record))

    def _answered(self, record: CallRecord) -> None:
        if record.number_key:
            self._spawn(self.close_for_number(record))

    def _backlog(self, queue: str) -> None:
        rules = self.rules.get(queue)
        if rules is None or not (rules.nudge_callers or rules.nudge_wait_seconds):
            return
        self._spawn(self.evaluate_backlog(queue))
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def _paused(self, event: MemberPaused, person: Person | None) -> None:
        if not event.auto or person is None:
            return
        queues = self._pausing.get(person.email)
        if queues is not None:  # autopause=all: one event per queue, one DM
            queues.append(event.queue)
            return
        if (
            self.clock() - self._noticed.get(person.email, 0.0)
            < AUTO_PAUSE_NOTICE_SECONDS
        ):
            return
        self._pausing[person.email] = [event.queue]
        self._spawn(self._notify_auto_pause(person))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("alert work failed", exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for the alert work in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.settle()

    # missed calls

    async def post_missed(self, record: CallRecord) -> Alert | None:
        rules = self.rules.get(record.queue)
        if rules is None or not rules.channels:
            return None
        call = await self._missed_call(record, rules)
        now = self.clock()
        alert_id = await self.db.arun(
            lambda c: _insert_alert(c, record, call.facts(), now)
        )
        if alert_id is None:
            log.debug("%s: call %s already has an alert", record.queue, record.uniqueid)
            return None
        alert = Alert(alert_id, call)
        refs = await self._post_everywhere(rules.channels, render_alert(alert))
        alert = replace(alert, refs=tuple(refs))
        await self.db.arun(lambda c: _save_alert(c, alert, self.clock()))
        log.info(
            "%s: missed-call alert %s for %s posted to %s",
            record.queue,
            alert_id,
            record.uniqueid,
            ", ".join(r.channel for r in refs) or "no channel",
        )
        return alert

    async def _missed_call(self, record: CallRecord, rules: QueueRules) -> MissedCall:
        today = await self.tracker.calls_today(record.number, rules.digest_timezone)
        return MissedCall(
            queue=record.queue,
            queue_name=rules.display_name,
            number=format_number(record.number, self.config.settings.calls),
            caller=record.name,
            waited=record.wait or 0,
            outcome=record.outcome or Outcome.UNANSWERED,
            rung=tuple(record.rung),
            missed_by=tuple(record.missed_by),
            calls_today=max(today, 1),
            at=record.ended or record.joined,
            timezone=rules.digest_timezone,
        )

    async def _post_everywhere(
        self, channels: tuple[str, ...], message: Reply
    ) -> list[MessageRef]:
        chat = self.chat
        if chat is None:
            if not self._said_no_chat:
                log.warning("no chat platform is connected: alerts are not posted")
                self._said_no_chat = True
            return []
        results = await asyncio.gather(
            *(chat.post(channel, message) for channel in channels),
            return_exceptions=True,
        )
        refs = []
        for channel, result in zip(channels, results, strict=True):
            if isinstance(result, MessageRef):
                refs.append(result)
            elif isinstance(result, BaseException):
                log.error("could not post to %s: %s", channel, result)
        return refs

    async def _update_everywhere(
        self, refs: tuple[MessageRef, ...], message: Reply
    ) -> None:
        chat = self.chat
        if chat is None:
            return
        results = await asyncio.gather(
            *(chat.update(ref, message) for ref in refs), return_exceptions=True
        )
        for ref, result in zip(refs, results, strict=True):
            if isinstance(result, BaseException):
                log.error("could not update %s in %s: %s", ref.id, ref.channel, result)

    async def close_for_number(self, record: CallRecord) -> int:
        """A later answered call from the same number closes its open alerts."""
        answered = record.answered or self.clock()
        async with self._action_lock:
            alerts = await self.db.arun(
                lambda c: _open_alerts_for(c, record.number_key, answered)
            )
            for alert in alerts:
                closed = replace(
                    alert,
                    state=AlertState.ANSWERED,
                    done_by=record.agent_name or "an agent",
                    done_at=answered,
                )
                await self._store_and_show(closed)
                log.info(
                    "%s: alert %s closed, %s answered a call from the number",
                    alert.call.queue,
                    alert.id,
                    record.agent,
                )
        return len(alerts)

    async def _store_and_show(self, alert: Alert) -> None:
        await self.db.arun(lambda c: _save_alert(c, alert, self.clock()))
        await self._update_everywhere(alert.refs, render_alert(alert))

    # buttons

    async def handle_action(self, action: str, value: str, person: Person) -> Reply:
        """A button click by ``person``.

        Returns the updated channel message (``public=True``, already shown in
        every channel that has the alert) or a short answer for the clicker
        alone (``public=False``).
        """
        if action == NUDGE_JOIN:
            return await self._join_from_nudge(value, person)
        if action not in ACTIONS:
            return personal("That button isn't one of mine any more.")
        try:
            alert_id = int(value)
        except ValueError:
            return personal("That alert button is damaged; ask your ccbot admin.")
        async with self._action_lock:
            alert = await self.db.arun(lambda c: _get_alert(c, alert_id))
            if alert is None:
                return personal("That missed call is no longer on record.")
            changed = self._apply(alert, action, person)
            if isinstance(changed, Reply):
                return changed
            await self._store_and_show(changed)
        log.info(
            "%s: alert %s %s by %s", alert.call.queue, alert_id, action, person.email
        )
        return render_alert(changed)

    def _apply(self, alert: Alert, action: str, person: Person) -> Alert | Reply:
        if alert.state.closed:
            footer = " ".join(
                b.text for b in _alert_footer(alert) if isinstance(b, Note)
            )
            return personal(f"This missed call is already closed. {plain(footer)}")
        now = self.clock()
        if action == ALERT_CLAIM:
            if alert.state is AlertState.CLAIMED:
                if alert.claimed_by == person.name:
                    return personal("You've already claimed this call-back.")
                return personal(f"{alert.claimed_by} is already calling back.")
            return replace(alert, state=AlertState.CLAIMED, claimed_by=person.name)
        state = (
            AlertState.CALLED_BACK
            if action == ALERT_CALLED_BACK
            else AlertState.NO_NEED
        )
        return replace(alert, state=state, done_by=person.name, done_at=now)

    async def _join_from_nudge(self, queue: str, person: Person) -> Reply:
        if queue not in self.config.queues:
            return personal("That queue is no longer in ccbot's config.")
        reply = await self.run_command(
            person.email, f"joinqueue {queue} for {NUDGE_JOIN_FOR}"
        )
        return replace(reply, public=False)

    # backlog nudges

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(NUDGE_TICK_SECONDS)
            for queue, state in self._nudges.items():
                if state.current is not None or self.tracker.waiting(queue):
                    try:
                        await self.evaluate_backlog(queue)
                    except Exception:
                        log.exception("%s: backlog check failed", queue)

    async def evaluate_backlog(self, queue: str) -> None:
        rules = self.rules[queue]
        if not (rules.nudge_callers or rules.nudge_wait_seconds):
            return
        state = self._nudges[queue]
        async with state.lock:
            now = self.clock()
            waiting = self.tracker.waiting(queue)
            callers = len(waiting)
            longest = round(now - min((r.joined for r in waiting), default=now))
            busy = (rules.nudge_callers and callers >= rules.nudge_callers) or (
                rules.nudge_wait_seconds
                and callers
                and longest >= rules.nudge_wait_seconds
            )
            current = state.current
            if current is None:
                if busy and now >= state.quiet_until:
                    await self._open_nudge(state, rules, callers, longest, now)
            elif not busy:
                await self._clear_nudge(state, rules, now)
            else:
                await self._refresh_nudge(current, callers, longest, now)

    async def _open_nudge(
        self,
        state: _QueueNudges,
        rules: QueueRules,
        callers: int,
        longest: int,
        now: float,
    ) -> None:
        nudge = Nudge(rules.queue, rules.display_name, callers, longest)
        nudge.peak_callers, nudge.peak_wait = callers, longest
        nudge.updated, nudge.shown = now, (callers, longest)
        state.current = nudge
        nudge.refs = tuple(
            await self._post_everywhere(rules.channels, render_nudge(nudge))
        )
        log.info(
            "%s: backlog nudge posted (%s waiting, longest %s s)",
            rules.queue,
            callers,
            longest,
        )

    async def _refresh_nudge(
        self, nudge: Nudge, callers: int, longest: int, now: float
    ) -> None:
        nudge.callers, nudge.longest = callers, longest
        nudge.peak_callers = max(nudge.peak_callers, callers)
        nudge.peak_wait = max(nudge.peak_wait, longest)
        count_changed = callers != nudge.shown[0]
        if not count_changed and now - nudge.updated < NUDGE_UPDATE_SECONDS:
            return
        nudge.updated, nudge.shown = now, (callers, longest)
        await self._update_everywhere(nudge.refs, render_nudge(nudge))

    async def _clear_nudge(
        self, state: _QueueNudges, rules: QueueRules, now: float
    ) -> None:
        nudge = state.current
        assert nudge is not None
        nudge.cleared = True
        state.current = None
        state.quiet_until = now + rules.nudge_cooldown_minutes * 60
        await self._update_everywhere(nudge.refs, render_nudge(nudge))
        log.info("%s: backlog cleared, nudge closed", rules.queue)

    def nudge(self, queue: str) -> Nudge | None:
        return self._nudges[queue].current

    # agent notices

    async def _notify_auto_pause(self, person: Person) -> None:
        await asyncio.sleep(AUTO_PAUSE_GATHER_SECONDS)
        queues = self._pausing.pop(person.email, [])
        self._noticed[person.email] = self.clock()
        if self.chat is None or not queues:
            return
        names = [
            self.rules[q].display_name if q in self.rules else q
            for q in dict.fromkeys(queues)
        ]
        await self.chat.direct(person, render_auto_pause(names))
        log.info("told %s about an auto-pause in %s", person.email, ", ".join(queues))
