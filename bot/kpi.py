"""Queue KPIs, as DESIGN.md defines them, computed by SQL aggregates.

- offered: calls that entered the queue in the window (by the time they joined);
- answered: calls an agent took (outcome answered or transferred);
- abandoned: the caller hung up while waiting; *short* abandons (waited less
  than the queue's short-abandon seconds) are counted apart and left out of
  the service level;
- unanswered: left the queue unanswered (timeout, empty queue);
- service level: answered within the threshold (wait <= threshold seconds)
  divided by (offered - short abandons);
- ASA: mean wait of answered calls; AHT: mean talk time of answered calls;
- longest wait: the longest any caller waited, answered or not;
- per agent: answered, talk time, missed rings (ring-no-answer events) and
  time paused by reason (from the pause transitions Asterisk reported).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

OUTCOMES = ("answered", "transferred", "abandoned", "unanswered")
TAKEN = ("answered", "transferred")


@dataclass(frozen=True)
class QueueKpis:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    unanswered: int = 0
    transferred: int = 0
    within_threshold: int = 0
    still_open: int = 0
    answered_wait: float = 0.0  # seconds, summed over answered calls
    talk: float = 0.0  # seconds, summed over answered calls
    longest_wait: int | None = None

    @property
    def missed(self) -> int:
        return self.abandoned + self.unanswered

    @property
    def long_abandons(self) -> int:
        return self.abandoned - self.short_abandons

    @property
    def service_level(self) -> float | None:
        """A fraction 0..1, or None when no call counts."""
        base = self.offered - self.short_abandons
        return self.within_threshold / base if base > 0 else None

    @property
    def asa(self) -> float | None:
        return self.answered_wait / self.answered if self.answered else None

    @property
    def aht(self) -> float | None:
        return self.talk / self.answered if self.answered else None

    def __add__(self, other: QueueKpis) -> QueueKpis:
        waits = [w for w in (self.longest_wait, other.longest_wait) if w is not None]
        return QueueKpis(
            self.offered + other.offered,
            self.answered + other.answered,
            self.abandoned + other.abandoned,
            self.short_abandons + other.short_abandons,
            self.unanswered + other.unanswered,
            self.transferred + other.transferred,
            self.within_threshold + other.within_threshold,
            self.still_open + other.still_open,
            self.answered_wait + other.answered_wait,
            self.talk + other.talk,
            max(waits) if waits else None,
        )


@dataclass(frozen=True)
class Bucket:
    label: str
    start: float
    kpis: QueueKpis

    @property
    def offered(self) -> int:
        return self.kpis.offered

    @property
    def answered(self) -> int:
        return self.kpis.answered

    @property
    def missed(self) -> int:
        return self.kpis.missed


@dataclass(frozen=True)
class AgentKpis:
    agent: str  # email, or the interface of someone ccbot does not know
    name: str
    answered: int = 0
    talk: int = 0
    missed_rings: int = 0
    paused: dict[str, float] = field(default_factory=dict)  # reason -> seconds

    @property
    def paused_total(self) -> float:
        return sum(self.paused.values())


def day_window(day: date, timezone: str) -> tuple[float, float]:
    """Local midnight to the next local midnight, as UTC epoch seconds."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return start.timestamp(), end.timestamp()


def hour_buckets(day: date, timezone: str) -> list[tuple[str, float, float]]:
    """Each local hour of the day: 23 on a spring-forward day, 25 on fall-back."""
    zone = ZoneInfo(timezone)
    start, end = day_window(day, timezone)
    bounds, moment = [], start
    while moment < end:
        local = datetime.fromtimestamp(moment, zone)
        label = local.strftime("%H:00") + (" (2nd)" if local.fold else "")
        bounds.append((label, moment, min(moment + 3600, end)))
        moment += 3600
    return bounds


def day_buckets(
    first: date, last: date, timezone: str
) -> list[tuple[str, float, float]]:
    out = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        start, end = day_window(day, timezone)
        out.append((day.strftime("%a %d %b"), start, end))
    return out


# Each query below is one range seek on a covering index (see bot/store.py):
# per outcome and time range, and per outcome and agent. Nothing sorts, and
# no table row is read, which is what keeps a 30-day report of a million
# calls near the cost of a bare COUNT over the same rows.

_TAKEN_SQL = (
    "SELECT COUNT(*), TOTAL(wait <= ?), TOTAL(wait), TOTAL(talk), MAX(wait) "
    "FROM calls WHERE queue = ? AND outcome = ? AND joined >= ? AND joined < ?"
)
_ABANDONED_SQL = (
    "SELECT COUNT(*), TOTAL(wait < ?), MAX(wait) "
    "FROM calls WHERE queue = ? AND outcome = ? AND joined >= ? AND joined < ?"
)
_OPEN_SQL = (
    "SELECT COUNT(*), MAX(wait) FROM calls "
    "WHERE queue = ? AND outcome IS NULL AND joined >= ? AND joined < ?"
)


def queue_kpis(
    conn: sqlite3.Connection,
    queue: str,
    start: float,
    end: float,
    service_level_seconds: int,
    short_abandon_seconds: int,
) -> QueueKpis:
    """Every KPI of calls that joined the queue in [start, end)."""
    sl, short = service_level_seconds, short_abandon_seconds
    counts: dict[str, int] = {}
    waits: list[int] = []
    within = answered_wait = talk = 0.0
    for outcome in TAKEN:
        n, ok, wait_sum, talk_sum, longest = conn.execute(
            _TAKEN_SQL, [sl, queue, outcome, start, end]
        ).fetchone()
        counts[outcome] = n
        within, answered_wait, talk = (
            within + ok,
            answered_wait + wait_sum,
            talk + talk_sum,
        )
        waits += [longest] if longest is not None else []
    n, shorts, longest = conn.execute(
        _ABANDONED_SQL, [short, queue, "abandoned", start, end]
    ).fetchone()
    counts["abandoned"] = n
    waits += [longest] if longest is not None else []
    n, _, longest = conn.execute(
        _ABANDONED_SQL, [0, queue, "unanswered", start, end]
    ).fetchone()
    counts["unanswered"] = n
    waits += [longest] if longest is not None else []
    still_open, longest = conn.execute(_OPEN_SQL, [queue, start, end]).fetchone()
    waits += [longest] if longest is not None else []
    return QueueKpis(
        offered=sum(counts.values()) + still_open,
        answered=counts["answered"] + counts["transferred"],
        abandoned=counts["abandoned"],
        short_abandons=int(shorts),
        unanswered=counts["unanswered"],
        transferred=counts["transferred"],
        within_threshold=int(within),
        still_open=still_open,
        answered_wait=answered_wait,
        talk=talk,
        longest_wait=max(waits) if waits else None,
    )


def buckets(
    conn: sqlite3.Connection,
    queue: str,
    bounds: list[tuple[str, float, float]],
    service_level_seconds: int = 0,
    short_abandon_seconds: int = 0,
) -> list[Bucket]:
    """The KPIs of each bucket (by joining time); they add up to the total."""
    return [
        Bucket(
            label,
            start,
            queue_kpis(
                conn, queue, start, end, service_level_seconds, short_abandon_seconds
            ),
        )
        for label, start, end in bounds
    ]


def _agents_with(conn: sqlite3.Connection, queue: str, outcome: str) -> list[str]:
    """Distinct agents by hopping along the index: one seek per agent."""
    found: list[str] = []
    while True:
        row = conn.execute(
            "SELECT agent FROM calls WHERE queue = ? AND outcome = ? AND agent > ? "
            "ORDER BY agent LIMIT 1",
            [queue, outcome, found[-1] if found else ""],
        ).fetchone()
        if row is None:
            return found
        found.append(row[0])


def _ringers(conn: sqlite3.Connection, queue: str) -> list[str]:
    found: list[str] = []
    while True:
        row = conn.execute(
            "SELECT agent FROM rings WHERE queue = ? AND agent > ? "
            "ORDER BY agent LIMIT 1",
            [queue, found[-1] if found else ""],
        ).fetchone()
        if row is None:
            return found
        found.append(row[0])


def agents(
    conn: sqlite3.Connection, queue: str, start: float, end: float, now: float
) -> list[AgentKpis]:
    """Per agent: answered, talk time, missed rings, time paused by reason."""
    names: dict[str, str] = {}
    answered: dict[str, int] = defaultdict(int)
    talk: dict[str, float] = defaultdict(float)
    for outcome in TAKEN:
        for agent in _agents_with(conn, queue, outcome):
            n, seconds, name = conn.execute(
                "SELECT COUNT(*), TOTAL(talk), MAX(agent_name) FROM calls "
                "WHERE queue = ? AND outcome = ? AND agent = ? "
                "AND joined >= ? AND joined < ?",
                [queue, outcome, agent, start, end],
            ).fetchone()
            if n:
                answered[agent] += n
                talk[agent] += seconds
                names.setdefault(agent, name or agent)
    missed: dict[str, int] = {}
    for agent in _ringers(conn, queue):
        n, name = conn.execute(
            "SELECT COUNT(*), MAX(member) FROM rings "
            "WHERE queue = ? AND agent = ? AND at >= ? AND at < ?",
            [queue, agent, start, end],
        ).fetchone()
        if n:
            missed[agent] = n
            names.setdefault(agent, name or agent)
    paused = paused_by_reason(conn, queue, start, end, now)
    for agent, (name, _) in paused.items():
        names.setdefault(agent, name or agent)
    result = [
        AgentKpis(
            agent=agent,
            name=name,
            answered=answered.get(agent, 0),
            talk=round(talk.get(agent, 0.0)),
            missed_rings=missed.get(agent, 0),
            paused=paused[agent][1] if agent in paused else {},
        )
        for agent, name in names.items()
    ]
    return sorted(result, key=lambda a: (-a.answered, a.name.lower()))


def paused_by_reason(
    conn: sqlite3.Connection, queue: str, start: float, end: float, now: float
) -> dict[str, tuple[str, dict[str, float]]]:
    """Seconds each agent spent paused in the queue within the window, by reason.

    A pause that began before the window counts from the window's start; one
    still running counts until the window's end or now, whichever is first.
    """
    stop = min(end, now)
    before = conn.execute(
        "SELECT agent, member, paused, reason, MAX(at) FROM member_pauses "
        "WHERE queue = ? AND at < ? GROUP BY agent",
        [queue, start],
    ).fetchall()
    during = conn.execute(
        "SELECT agent, member, paused, reason, at FROM member_pauses "
        "WHERE queue = ? AND at >= ? AND at < ? ORDER BY at, id",
        [queue, start, stop],
    ).fetchall()
    state: dict[str, tuple[str, float]] = {}  # agent -> (reason, since)
    names: dict[str, str] = {}
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for agent, member, paused, reason, _ in before:
        names[agent] = member
        if paused:
            state[agent] = (reason or "Paused", start)
    for agent, member, paused, reason, at in during:
        names[agent] = member or names.get(agent, agent)
        if agent in state:
            was, since = state.pop(agent)
            totals[agent][was] += at - since
        if paused:
            state[agent] = (reason or "Paused", at)
    for agent, (was, since) in state.items():
        if stop > since:
            totals[agent][was] += stop - since
    return {
        agent: (names.get(agent, agent), dict(reasons))
        for agent, reasons in totals.items()
        if any(v > 0 for v in reasons.values())
    }
