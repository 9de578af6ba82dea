"""The calendar and presence layers: busy intervals in, pauses at exact times out.

The rules are pure functions (``judge``, ``blocks``, ``presence_reason``); the
``Availability`` service keeps the last good schedule in the store, turns it
into the calendar layer through Control, and tells people by direct message.
A pause made by hand is never touched here: only the calendar and presence
layers are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import CalendarSettings
from bot.control import Control
from bot.domain import Layer, Pause, Person
from bot.messages import Fields, Note, Reply, Table
from bot.overrides import clear_override, override_until
from bot.protocols import (
    BusyInterval,
    Chat,
    FreeBusy,
    PersonCalendar,
    PresenceReading,
    WorkingHours,
)
from bot.store import Store, from_text, to_text

log = logging.getLogger(__name__)

MEETING, OUT_OF_OFFICE, OFF_HOURS = "meeting", "out of office", "off hours"
# When two kinds merge into one block, the reason names the weightiest.
_WEIGHT = {OUT_OF_OFFICE: 3, MEETING: 2, OFF_HOURS: 1}
_WHY = {
    MEETING: "for a meeting",
    OUT_OF_OFFICE: "while you're out of office",
    OFF_HOURS: "outside your working hours",
}


@dataclass(frozen=True)
class Verdict:
    """One interval and whether it pauses, in words for `calendar show`."""

    interval: BusyInterval
    pauses: bool
    why: str


@dataclass(frozen=True)
class Block:
    """A stretch of time when the calendar layer pauses the person."""

    start: datetime
    end: datetime
    kind: str
    subject: str = ""

    def reason(self, tz: str, subject_allowed: bool) -> str:
        until = clock_text(self.end, tz, self.start)
        if self.kind == OUT_OF_OFFICE:
            return f"Out of office until {until}"
        if self.kind == OFF_HOURS:
            return f"Outside working hours until {until}"
        if subject_allowed and self.subject:
            return f"{self.subject} until {until}"
        return f"Meeting until {until}"


def same_second(one: datetime | None, other: datetime | None) -> bool:
    """The store keeps whole seconds, so compare moments as it does."""
    return to_text(one) == to_text(other)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def clock_text(moment: datetime, tz: str, now: datetime) -> str:
    """14:30 today, "Mon 09:00" on another day, in the person's time zone."""
    local, today = moment.astimezone(zone(tz)), now.astimezone(zone(tz))
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%a %H:%M")


# the rules


def judge(interval: BusyInterval, rules: CalendarSettings) -> Verdict:
    """Whether one interval pauses, and why (or why not)."""
    status = interval.status
    if interval.automatic_reply:
        return Verdict(interval, True, "automatic replies (out of office) are on")
    if status in (FreeBusy.FREE, FreeBusy.WORKING_ELSEWHERE):
        return Verdict(interval, False, f"shown as {status.value}, which never pauses")
    if status is FreeBusy.TENTATIVE and not rules.pauses_for("tentative"):
        return Verdict(interval, False, "tentative, and tentative = false")
    if not rules.pauses_for(status.value):
        return Verdict(interval, False, f"{status.value} is not in pausing_statuses")
    return Verdict(interval, True, f"shown as {status.value}")


def _kind(interval: BusyInterval) -> str:
    if interval.automatic_reply or interval.status is FreeBusy.OOF:
        return OUT_OF_OFFICE
    return MEETING


def working_periods(
    hours: WorkingHours, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Each working day's span that touches [start, end), in UTC."""
    tz = zone(hours.timezone)
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    periods = []
    day = first
    while day <= last:
        if day.weekday() in hours.days:
            begin = _local(day, hours.start, tz)
            finish = _local(day, hours.end, tz)
            if finish <= begin:  # a shift past midnight
                finish = _local(day + timedelta(days=1), hours.end, tz)
            if finish > start and begin < end:
                periods.append((begin, finish))
        day += timedelta(days=1)
    return periods


def _local(day: date, moment: time, tz: ZoneInfo) -> datetime:
    # fold=0 and zoneinfo's arithmetic give the wall time on a DST day.
    return datetime.combine(day, moment, tz).astimezone(UTC)


def blocks(
    calendar: PersonCalendar,
    rules: CalendarSettings,
    start: datetime,
    end: datetime,
    lead: timedelta | None = None,
) -> list[Block]:
    """The stretches the calendar layer pauses, merged so nothing flaps."""
    lead = timedelta(minutes=rules.lead_minutes) if lead is None else lead
    raw: list[Block] = []
    for interval in calendar.intervals:
        if not judge(interval, rules).pauses:
            continue
        subject = "" if interval.private else interval.subject
        raw.append(Block(interval.start - lead, interval.end, _kind(interval), subject))
    if rules.outside_working_hours and calendar.working_hours is not None:
        raw.extend(_off_hours(calendar.working_hours, start, end))
    return [b for b in _merge(raw) if b.end > start and b.start < end]


def _off_hours(hours: WorkingHours, start: datetime, end: datetime) -> list[Block]:
    # Pad the window so a block running over its edges keeps its true ends.
    begin, finish = start - timedelta(days=1), end + timedelta(days=1)
    gaps, cursor = [], begin
    for period_start, period_end in working_periods(hours, begin, finish):
        if period_start > cursor:
            gaps.append(Block(cursor, period_start, OFF_HOURS))
        cursor = max(cursor, period_end)
    if cursor < finish:
        gaps.append(Block(cursor, finish, OFF_HOURS))
    return gaps


def _merge(raw: Iterable[Block]) -> list[Block]:
    merged: list[Block] = []
    for block in sorted(raw, key=lambda b: (b.start, b.end)):
        if merged and block.start <= merged[-1].end:
            last = merged[-1]
            kind = max(last.kind, block.kind, key=lambda k: _WEIGHT[k])
            subject = last.subject if last.subject == block.subject else ""
            merged[-1] = Block(last.start, max(last.end, block.end), kind, subject)
        else:
            merged.append(block)
    return merged


def block_at(found: Sequence[Block], now: datetime) -> Block | None:
    return next((b for b in found if b.start <= now < b.end), None)


def presence_reason(reading: PresenceReading, rules: CalendarSettings) -> str | None:
    """The pause reason a Teams presence gives, or None when it doesn't pause."""
    if reading.activity in rules.presence_activity:
        return _presence_text(reading.activity)
    if reading.availability in rules.presence_availability:
        return _presence_text(reading.availability)
    return None


def _presence_text(value: str) -> str:
    texts = {
        "InACall": "On a Teams call",
        "InAConferenceCall": "In a Teams conference call",
        "Presenting": "Presenting in Teams",
        "DoNotDisturb": "Do not disturb (Teams)",
        "Busy": "Busy in Teams",
        "InAMeeting": "In a Teams meeting",
        "Away": "Away in Teams",
        "BeRightBack": "Be right back (Teams)",
    }
    return texts.get(value, f"Teams: {value}")


# the last good schedule, in the store


@dataclass(frozen=True)
class Schedule:
    email: str
    source: str
    calendar: PersonCalendar
    fetched: datetime | None
    error: str = ""
    error_at: datetime | None = None


def _interval_row(interval: BusyInterval) -> dict[str, Any]:
    return {
        "start": to_text(interval.start),
        "end": to_text(interval.end),
        "status": interval.status.value,
        "private": interval.private,
        "subject": interval.subject,
        "all_day": interval.all_day,
        "automatic_reply": interval.automatic_reply,
    }


def _interval(row: Mapping[str, Any]) -> BusyInterval:
    start, end = from_text(row["start"]), from_text(row["end"])
    assert start is not None and end is not None
    return BusyInterval(
        start=start,
        end=end,
        status=FreeBusy(row["status"]),
        private=bool(row["private"]),
        subject=row["subject"],
        all_day=bool(row["all_day"]),
        automatic_reply=bool(row["automatic_reply"]),
    )


def _hours_text(hours: WorkingHours | None) -> str:
    if hours is None:
        return ""
    return json.dumps(
        {
            "days": sorted(hours.days),
            "start": hours.start.isoformat(),
            "end": hours.end.isoformat(),
            "timezone": hours.timezone,
        }
    )


def _hours(text: str | None) -> WorkingHours | None:
    if not text:
        return None
    data = json.loads(text)
    return WorkingHours(
        frozenset(data["days"]),
        time.fromisoformat(data["start"]),
        time.fromisoformat(data["end"]),
        data["timezone"],
    )


class CalendarBook:
    """The calendar tables of the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def schedule(self, email: str) -> Schedule | None:
        rows = list(self.db.table("calendar_schedule").rows_where("email = ?", [email]))
        return _schedule(rows[0]) if rows else None

    def schedules(self) -> dict[str, Schedule]:
        return {
            row["email"]: _schedule(row)
            for row in self.db.table("calendar_schedule").rows_where()
        }

    def save(
        self, source: str, found: Mapping[str, PersonCalendar], now: datetime
    ) -> int:
        """Keep the good, keep the last good for the failed; the failures count."""
        known = {
            row[0]: row[1]
            for row in self.db.execute(
                "SELECT email, intervals FROM calendar_schedule"
            ).fetchall()
        }
        rows, failed = [], 0
        for email, calendar in found.items():
            if calendar.error:
                failed += 1
                rows.append(
                    {
                        "email": email,
                        "source": source,
                        "intervals": known.get(email, "[]"),
                        "error": calendar.error,
                        "error_at": to_text(now),
                    }
                )
                continue
            rows.append(
                {
                    "email": email,
                    "source": source,
                    "fetched": to_text(now),
                    "intervals": json.dumps(
                        [_interval_row(i) for i in calendar.intervals]
                    ),
                    "working_hours": _hours_text(calendar.working_hours),
                    "error": "",
                    "error_at": None,
                }
            )
        with self.store.transaction():
            self.db.table("calendar_schedule").upsert_all(rows, pk="email", alter=False)
        return failed

    def mark_failed(self, emails: Iterable[str], error: str, now: datetime) -> None:
        with self.store.transaction():
            for email in emails:
                self.db.table("calendar_schedule").upsert(
                    {"email": email, "error": error, "error_at": to_text(now)},
                    pk="email",
                )

    def notify(self, email: str, default: bool) -> bool:
        row = self.db.execute(
            "SELECT notify FROM calendar_prefs WHERE email = ?", [email]
        ).fetchone()
        return default if row is None else bool(row[0])

    def set_notify(self, email: str, on: bool) -> None:
        self.db.table("calendar_prefs").upsert(
            {"email": email, "notify": int(on)}, pk="email"
        )

    def left(self, email: str) -> dict[str, datetime | None]:
        rows = self.db.execute(
            "SELECT queue, until FROM calendar_left WHERE email = ?", [email]
        ).fetchall()
        return {row[0]: from_text(row[1]) for row in rows}

    def set_left(self, email: str, queue: str, until: datetime | None) -> None:
        self.db.table("calendar_left").upsert(
            {"email": email, "queue": queue, "until": to_text(until)},
            pk=("email", "queue"),
        )

    def clear_left(self, email: str) -> None:
        with self.db.conn:
            self.db.execute("DELETE FROM calendar_left WHERE email = ?", [email])

    def login_until(self, email: str) -> datetime | None:
        row = self.db.execute(
            "SELECT until FROM calendar_login WHERE email = ?", [email]
        ).fetchone()
        return from_text(row[0]) if row else None

    def set_login(self, email: str, until: datetime) -> None:
        self.db.table("calendar_login").upsert(
            {"email": email, "until": to_text(until)}, pk="email"
        )


def _schedule(row: Mapping[str, Any]) -> Schedule:
    intervals = tuple(_interval(i) for i in json.loads(row["intervals"] or "[]"))
    calendar = PersonCalendar(
        row["email"], intervals, _hours(row["working_hours"]), row["error"] or ""
    )
    return Schedule(
        email=row["email"],
        source=row["source"] or "",
        calendar=calendar,
        fetched=from_text(row["fetched"]),
        error=row["error"] or "",
        error_at=from_text(row["error_at"]),
    )


# what ccbot tells people


def paused_text(queues: Sequence[str], until: str, kind: str) -> str:
    where = f" in {_join(queues)}" if queues else ""
    return f"Paused{where} until {until} {_WHY[kind]}. `/unpause` to stay available."


def resumed_text(queues: Sequence[str], kind: str) -> str:
    ended = {
        MEETING: "your meeting has ended",
        OUT_OF_OFFICE: "you're back from out of office",
        OFF_HOURS: "your working hours have begun",
    }[kind]
    where = f" in {_join(queues)}" if queues else ""
    return f"Taking calls again{where}: {ended}."


def _join(items: Sequence[str]) -> str:
    names = list(items)
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# the service


@dataclass(frozen=True)
class Shown:
    """The calendar pause ccbot last applied, to tell a resume once."""

    reason: str
    until: datetime
    kind: str


class Availability:
    """Drives the calendar and presence layers from the last good schedule."""

    def __init__(
        self,
        control: Control,
        rules: CalendarSettings,
        source: str,
        chat: Chat | None = None,
    ) -> None:
        self.control = control
        self.rules = rules
        self.source = source
        self.chat = chat
        self.book = CalendarBook(control.store)
        self._schedules: dict[str, Schedule] = {}
        self._shown: dict[str, Shown] = {}
        self.reload()
        control.listeners.append(self._after_change)

    def reload(self) -> None:
        self._schedules = self.book.schedules()
        for pause in self.control.store.pauses():
            if pause.layer is Layer.CALENDAR and pause.until is not None:
                self._shown[pause.email] = Shown(pause.reason, pause.until, MEETING)

    async def _after_change(self, email: str) -> None:
        """After `/unpause` in a meeting, its resume message would be noise."""
        if email in self._shown:
            now = self.control.clock()
            held, _ = override_until(self.store, email, Layer.CALENDAR, now)
            if held:
                self._shown.pop(email, None)

    @property
    def store(self) -> Store:
        return self.control.store

    # a refresh

    def record(self, found: Mapping[str, PersonCalendar]) -> int:
        """Keep what a refresh found; return how many people failed."""
        now = self.control.clock()
        failed = self.book.save(self.source, found, now)
        for email, calendar in found.items():
            old = self._schedules.get(email)
            if not calendar.error:
                self._schedules[email] = Schedule(email, self.source, calendar, now)
            elif old is not None:
                self._schedules[email] = replace(
                    old, error=calendar.error, error_at=now
                )
            else:
                self._schedules[email] = Schedule(
                    email, self.source, calendar, None, calendar.error, now
                )
        if failed:
            log.warning(
                "calendar refresh: %s of %s people failed; keeping their last "
                "good schedule",
                failed,
                len(found),
            )
        return failed

    def record_failure(self, people: Iterable[str], error: str) -> None:
        """A refresh that failed outright: keep every schedule, say so."""
        now = self.control.clock()
        emails = list(people)
        self.book.mark_failed(emails, error, now)
        for email in emails:
            old = self._schedules.get(email)
            if old is not None:
                self._schedules[email] = replace(old, error=error, error_at=now)
        log.warning(
            "calendar refresh failed (%s); keeping the last good schedule", error
        )

    # the plan

    def schedule(self, email: str) -> Schedule | None:
        return self._schedules.get(email)

    def plan(self, email: str, start: datetime, end: datetime) -> list[Block]:
        schedule = self._schedules.get(email)
        if schedule is None:
            return []
        return blocks(schedule.calendar, self.rules, start, end)

    def current(self, email: str, now: datetime) -> Block | None:
        """The block pausing the person now, unless an override holds."""
        found = block_at(self.plan(email, now, now + timedelta(seconds=1)), now)
        if found is None:
            return None
        held, until = override_until(self.store, email, Layer.CALENDAR, now)
        if held and (until is None or found.start < until):
            return None
        return found

    def transitions(self, email: str, now: datetime, end: datetime) -> set[datetime]:
        """Every moment in (now, end] at which this person's layers change."""
        moments = set()
        for block in self.plan(email, now, end):
            moments |= {block.start, block.end}
        held, until = override_until(self.store, email, Layer.CALENDAR, now)
        if held and until is not None:
            moments.add(until)
        moments |= self._login_moments(email, now, end)
        return {m for m in moments if now < m <= end}

    def _login_moments(self, email: str, now: datetime, end: datetime) -> set[datetime]:
        schedule = self._schedules.get(email)
        if not self.rules.working_hours_login or schedule is None:
            return set()
        hours = schedule.calendar.working_hours
        if hours is None:
            return set()
        return {start for start, _ in working_periods(hours, now, end)}

    # applying the calendar layer

    async def settle(self, email: str) -> None:
        """Make the calendar layer what the schedule says for this moment."""
        person = self.control.find_person(email)
        if person is None:
            return
        now = self.control.clock()
        await self._log_in(person, now)
        block = self.current(email, now)
        if block is None:
            await self._resume(person)
            return
        await self._pause(person, block, now)

    async def settle_all(self, emails: Iterable[str] | None = None) -> None:
        for email in list(emails if emails is not None else self._schedules):
            try:
                await self.settle(email)
            except Exception:
                log.exception("could not apply the calendar for %s", email)

    async def _pause(self, person: Person, block: Block, now: datetime) -> None:
        reason = block.reason(person.timezone, self.rules.subject_in_reason)
        current = self._calendar_pause(person.email)
        if (
            current
            and current.reason == reason
            and same_second(current.until, block.end)
        ):
            return
        await self._leave_for(person, block)
        await self.control.pause(
            person, reason, block.end, layer=Layer.CALENDAR, source=self.source
        )
        first = person.email not in self._shown
        self._shown[person.email] = Shown(reason, block.end, block.kind)
        if first:
            until = clock_text(block.end, person.timezone, now)
            await self._tell(
                person, paused_text(self._queues(person), until, block.kind)
            )

    async def _resume(self, person: Person) -> None:
        if self._calendar_pause(person.email) is not None:
            await self.control.unpause(person, layer=Layer.CALENDAR)
        await self._rejoin(person)
        shown = self._shown.pop(person.email, None)
        if shown is None:
            return
        log.info("%s: calendar pause ended (%s)", person.email, shown.reason)
        # An `/unpause` made in another process (`ccbot say`) also ends it.
        before = shown.until - timedelta(seconds=1)
        overridden, _ = override_until(self.store, person.email, Layer.CALENDAR, before)
        if not overridden:
            await self._tell(person, resumed_text(self._queues(person), shown.kind))

    def _calendar_pause(self, email: str) -> Pause | None:
        return next(
            (p for p in self.control.pauses(email) if p.layer is Layer.CALENDAR), None
        )

    def _queues(self, person: Person) -> list[str]:
        return [
            self.control.config.queues[q].display_name
            for q in self.control.queues_of(person.email)
        ]

    async def _leave_for(self, person: Person, block: Block) -> None:
        """Leave mode: take the person out of those queues until the block ends."""
        members = {m.queue: m.until for m in self.control.memberships(person.email)}
        leaving = [q for q in members if self.rules.on_busy_in(q) == "leave"]
        if not leaving:
            return
        for queue in leaving:
            self.book.set_left(person.email, queue, members[queue])
        await self.control.leave(person, leaving)
        log.info("%s left %s until %s (calendar)", person.email, leaving, block.end)

    async def _rejoin(self, person: Person) -> None:
        left = self.book.left(person.email)
        if not left:
            return
        self.book.clear_left(person.email)
        now = self.control.clock()
        for queue, until in left.items():
            if until is None or until > now:
                await self.control.join(person, [queue], until)
        log.info("%s back in %s after the calendar", person.email, sorted(left))

    async def _log_in(self, person: Person, now: datetime) -> None:
        """Login mode: join the default queues when the working day begins."""
        schedule = self._schedules.get(person.email)
        if not self.rules.working_hours_login or schedule is None:
            return
        hours = schedule.calendar.working_hours
        if hours is None or not person.queues:
            return
        for start, end in working_periods(hours, now, now + timedelta(seconds=1)):
            if start <= now < end and self.book.login_until(person.email) != end:
                self.book.set_login(person.email, end)
                await self.control.join(person, list(person.queues), end)
                log.info("%s logged in by working hours until %s", person.email, end)

    # presence

    async def settle_presence(self, readings: Mapping[str, PresenceReading]) -> None:
        for email, reading in readings.items():
            person = self.control.find_person(email)
            if person is None:
                continue
            try:
                await self._presence_one(person, reading)
            except Exception:
                log.exception("could not apply the presence of %s", email)

    async def _presence_one(self, person: Person, reading: PresenceReading) -> None:
        reason = presence_reason(reading, self.rules)
        now = self.control.clock()
        held, _ = override_until(self.store, person.email, Layer.PRESENCE, now)
        if held:
            if reason is None:  # the call that was overridden has ended
                clear_override(self.store, person.email, Layer.PRESENCE)
            return
        current = next(
            (p for p in self.control.pauses(person.email) if p.layer is Layer.PRESENCE),
            None,
        )
        if reason is not None and (current is None or current.reason != reason):
            await self.control.pause(
                person, reason, None, layer=Layer.PRESENCE, source="presence"
            )
        elif reason is None and current is not None:
            await self.control.unpause(person, layer=Layer.PRESENCE)

    # telling people

    async def _tell(self, person: Person, text: str) -> None:
        if self.chat is None or not self.book.notify(
            person.email, self.rules.notify_by_dm
        ):
            return
        try:
            await self.chat.direct(person, Reply(text=text))
        except Exception:
            log.warning("could not send %s the calendar message", person.email)


def calendar_status(
    control: Control, email: str, rules: CalendarSettings
) -> tuple[str, str]:
    """For `/me`: what the calendar layer will do next, and any refresh trouble.

    Reads the store, so it works in `ccbot say` as well as in `ccbot run`.
    """
    now = control.clock()
    book = CalendarBook(control.store)
    schedule = book.schedule(email)
    if schedule is None:
        return "", ""
    person = control.find_person(email)
    tz = person.timezone if person else "UTC"
    found = blocks(schedule.calendar, rules, now, now + timedelta(days=2))
    held, until = override_until(control.store, email, Layer.CALENDAR, now)
    nxt = ""
    for block in found:
        if held and (until is None or block.start < until):
            if block.end > now and until is not None:
                nxt = f"you chose to stay available until {clock_text(until, tz, now)}"
                break
            continue
        if block.start > now:
            reason = block.reason(tz, rules.subject_in_reason)
            nxt = f"paused at {clock_text(block.start, tz, now)} ({reason})"
            break
        if block.end > now:
            end = clock_text(block.end, tz, now)
            manual = control.store.pauses(email)
            if any(p.layer is Layer.MANUAL for p in manual):
                # The calendar never clears a manual pause: no resume follows.
                nxt = f"the meeting ends at {end}; your own pause stays"
            else:
                nxt = f"resumes at {end}"
            break
    trouble = ""
    if schedule.error and schedule.error_at is not None:
        since = (
            f", using what it showed at {clock_text(schedule.fetched, tz, now)}"
            if schedule.fetched
            else ""
        )
        trouble = (
            f"Couldn't read your calendar at {clock_text(schedule.error_at, tz, now)}"
            f"{since}."
        )
    return nxt, trouble


def day_end(now: datetime, tz: str) -> datetime:
    """Midnight at the end of today, where the person is."""
    local = now.astimezone(zone(tz))
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(), zone(tz)).astimezone(UTC)


def describe_day(
    person: Person,
    calendar: PersonCalendar,
    rules: CalendarSettings,
    now: datetime,
    note: str = "",
) -> Reply:
    """What ccbot sees for the rest of the day, and why each interval pauses."""
    end = day_end(now, person.timezone)
    tz = person.timezone
    rows = []
    for interval in sorted(calendar.intervals, key=lambda i: i.start):
        if interval.end <= now or interval.start >= end:
            continue
        verdict = judge(interval, rules)
        span = "all day" if interval.all_day else _span(interval, tz, now)
        what = _what(interval)
        answer = ("pauses: " if verdict.pauses else "no: ") + verdict.why
        rows.append((span, what, interval.status.value, answer))
    found = blocks(calendar, rules, now, end)
    pauses = tuple(
        (
            f"{clock_text(b.start, tz, now)}–{clock_text(b.end, tz, now)}",
            b.reason(tz, rules.subject_in_reason),
        )
        for b in found
    )
    extra: list[Note | Table | Fields] = [
        Table(
            "Calendar",
            ("When", "What", "Shown as", "Pauses?"),
            tuple(rows),
            empty="Nothing for the rest of the day.",
        ),
        Note(_hours_line(calendar.working_hours, rules)),
    ]
    if pauses:
        extra.append(Fields(pauses))
    lead = f", {rules.lead_minutes:g} min early" if rules.lead_minutes else ""
    headline = (
        f"{person.name}'s calendar for the rest of today ({tz}): "
        f"{len(found)} {'pause' if len(found) == 1 else 'pauses'}{lead}."
    )
    if note:
        extra.insert(0, Note(note))
    return Reply(text=headline, blocks=tuple(extra))


def _span(interval: BusyInterval, tz: str, now: datetime) -> str:
    return f"{clock_text(interval.start, tz, now)}–{clock_text(interval.end, tz, now)}"


def _what(interval: BusyInterval) -> str:
    if interval.automatic_reply:
        return "Automatic replies on"
    if interval.private:
        return "(private)"
    return interval.subject or "(no subject)"


def _hours_line(hours: WorkingHours | None, rules: CalendarSettings) -> str:
    if hours is None:
        return "No working hours known."
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    days = ", ".join(names[d] for d in sorted(hours.days)) or "no days"
    effect = (
        "outside them pauses"
        if rules.outside_working_hours
        else "outside them does not pause (outside_working_hours = false)"
    )
    return (
        f"Working hours {hours.start:%H:%M}–{hours.end:%H:%M} {hours.timezone}, "
        f"{days}; {effect}."
    )
