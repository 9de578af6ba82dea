"""The daily digest per queue: KPIs, a per-agent table and a chart of calls per hour.

One model serves every renderer: the chat adapters show the Reply and upload
the PNG; ``ccbot digest`` prints the same Reply as text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from bot import kpi
from bot.calls import CallDb, QueueRules, queue_rules
from bot.config import Config
from bot.domain import Person
from bot.kpi import AgentKpis, Bucket, QueueKpis
from bot.messages import Fields, Note, Reply, Table
from bot.protocols import Chat
from handlers.text import wait

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Digest:
    queue: str
    queue_name: str
    first: date
    last: date
    timezone: str
    service_level_seconds: int
    short_abandon_seconds: int
    kpis: QueueKpis
    previous: QueueKpis | None  # one day: the same weekday a week earlier
    buckets: tuple[Bucket, ...]  # per hour for one day, per day for a span
    agents: tuple[AgentKpis, ...]

    @property
    def one_day(self) -> bool:
        return self.first == self.last

    @property
    def busiest(self) -> Bucket | None:
        best = max(self.buckets, key=lambda b: b.offered, default=None)
        return best if best is not None and best.offered else None

    @property
    def period(self) -> str:
        if self.one_day:
            return f"{self.first:%A} {self.first.day} {self.first:%B %Y}"
        return f"{self.first.isoformat()} to {self.last.isoformat()}"


def build_digest(
    conn: sqlite3.Connection,
    rules: QueueRules,
    first: date,
    last: date | None = None,
    now: float | None = None,
    names: Callable[[str], str | None] = lambda _: None,
) -> Digest:
    """Every figure of the digest, from SQL aggregates over the call tables.

    The totals are the sum of the buckets, so each call is read once; one day
    is compared with the same weekday a week earlier, a span with nothing.
    """
    last = last or first
    zone = rules.digest_timezone
    start, _ = kpi.day_window(first, zone)
    _, end = kpi.day_window(last, zone)
    sl, short = rules.service_level_seconds, rules.short_abandon_seconds
    one_day = first == last
    bounds = (
        kpi.hour_buckets(first, zone) if one_day else kpi.day_buckets(first, last, zone)
    )
    buckets = kpi.buckets(conn, rules.queue, bounds, sl, short)
    previous = None
    if one_day:
        before = first - timedelta(days=7)
        prev_start, prev_end = kpi.day_window(before, zone)
        previous = kpi.queue_kpis(conn, rules.queue, prev_start, prev_end, sl, short)
    agents = kpi.agents(conn, rules.queue, start, end, now or time.time())
    return Digest(
        queue=rules.queue,
        queue_name=rules.display_name,
        first=first,
        last=last,
        timezone=zone,
        service_level_seconds=sl,
        short_abandon_seconds=short,
        kpis=sum((b.kpis for b in buckets), QueueKpis()),
        previous=previous,
        buckets=tuple(buckets),
        agents=tuple(_named(a, names) for a in agents),
    )


def _named(agent: AgentKpis, names: Callable[[str], str | None]) -> AgentKpis:
    known = names(agent.agent)
    if not known:
        return agent
    return AgentKpis(
        agent.agent, known, agent.answered, agent.talk, agent.missed_rings, agent.paused
    )


# text


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _seconds(value: float | None) -> str:
    return "–" if value is None else wait(round(value))


def _change(
    now: float | int | None, before: float | int | None, percent: bool = False
) -> str:
    if now is None or before is None:
        return ""
    delta = now - before
    if percent:
        points = round(delta * 100)
        return f" ({'+' if points >= 0 else ''}{points} pts)"
    return f" ({'+' if delta >= 0 else ''}{delta:g})"


def _span(seconds: float) -> str:
    if seconds < 3600:
        return wait(round(seconds))
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def render_digest(digest: Digest) -> Reply:
    k, p = digest.kpis, digest.previous
    title = f"{digest.queue_name} digest for {digest.period}"
    if k.offered == 0:
        when = "on" if digest.one_day else "from"
        text = f"No calls reached {digest.queue_name} {when} {digest.period}."
        if p is not None and p.offered:
            text += f" A week earlier it had {p.offered}."
        return Reply(text=f"*{title}*", blocks=(Note(text),), public=True)

    def vs(name: str, percent: bool = False) -> str:
        if p is None:
            return ""
        return _change(getattr(k, name), getattr(p, name), percent)

    busiest = digest.busiest
    pairs = (
        ("Offered", f"{k.offered}{vs('offered')}"),
        ("Answered", f"{k.answered}{vs('answered')}"),
        ("Abandoned", f"{k.abandoned - k.short_abandons}{vs('long_abandons')}"),
        (
            "Short abandons",
            f"{k.short_abandons} (under {digest.short_abandon_seconds} s, "
            "left out of the service level)",
        ),
        ("Unanswered", f"{k.unanswered}{vs('unanswered')}"),
        (
            f"Service level ({digest.service_level_seconds} s)",
            f"{_percent(k.service_level)}{vs('service_level', percent=True)}",
        ),
        ("ASA", _seconds(k.asa)),
        ("AHT", _seconds(k.aht)),
        ("Longest wait", _seconds(k.longest_wait)),
        (
            "Busiest " + ("hour" if digest.one_day else "day"),
            f"{busiest.label} ({busiest.offered} calls)" if busiest else "–",
        ),
    )
    rows = tuple(
        (
            a.name,
            str(a.answered),
            _span(a.talk),
            str(a.missed_rings),
            ", ".join(f"{r} {_span(s)}" for r, s in sorted(a.paused.items())) or "–",
        )
        for a in digest.agents
    )
    summary = (
        f"{title}: {k.offered} offered, {k.answered} answered, "
        f"{k.missed} missed, service level {_percent(k.service_level)}"
    )
    return Reply(
        text=summary,
        blocks=(
            Fields(pairs),
            Table(
                "Agents",
                ("Agent", "Answered", "Talk time", "Missed rings", "Paused"),
                rows,
                empty="No agent took or missed a call.",
            ),
            Note(
                "Changes in brackets are against the same weekday last week."
                if p is not None
                else "Calls are counted by the day they joined the queue."
            ),
        ),
        public=True,
    )


def render_chart(digest: Digest) -> bytes:
    """Calls per hour (or per day), answered vs missed, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in a server and in threads
    from matplotlib.figure import Figure

    labels = [
        b.label.split(" ")[0] if digest.one_day else b.label for b in digest.buckets
    ]
    answered = [b.answered for b in digest.buckets]
    missed = [b.missed for b in digest.buckets]
    figure = Figure(figsize=(9, 3.2), dpi=100)
    axes = figure.subplots()
    positions = range(len(labels))
    axes.bar(positions, answered, label="Answered", color="#2e7d32")
    axes.bar(positions, missed, bottom=answered, label="Missed", color="#c62828")
    axes.set_xticks(
        list(positions), labels, rotation=90 if len(labels) > 12 else 0, fontsize=7
    )
    axes.set_ylabel("Calls")
    axes.set_title(
        f"{digest.queue_name}: calls per {'hour' if digest.one_day else 'day'}"
    )
    axes.legend(loc="upper left", fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


# sending


class DigestSender:
    """Builds and posts one queue's digest for one day, and notes it as sent."""

    def __init__(
        self,
        config: Config,
        db: CallDb,
        chat: Chat | None = None,
        find_person: Callable[[str], Person | None] = lambda _: None,
    ) -> None:
        self.config = config
        self.db = db
        self.chat = chat
        self.find_person = find_person

    def times(self) -> list[tuple[str, str, str]]:
        """(queue, local "HH:MM", time zone) of each queue's digest."""
        found = []
        for queue in self.config.queues:
            rules = queue_rules(self.config, queue)
            found.append((queue, rules.digest_time, rules.digest_timezone))
        return found

    def names(self, agent: str) -> str | None:
        person = self.find_person(agent)
        return person.name if person else None

    async def build(self, queue: str, first: date, last: date | None = None) -> Digest:
        rules = queue_rules(self.config, queue)
        digest = await self.db.arun(lambda c: build_digest(c, rules, first, last))
        # names come from the people store, whose connection lives on this thread
        named = tuple(_named(a, self.names) for a in digest.agents)
        return dataclasses.replace(digest, agents=named)

    async def was_sent(self, queue: str, day: date) -> bool:
        row = await self.db.arun(
            lambda c: c.execute(
                "SELECT 1 FROM digests_sent WHERE queue = ? AND day = ?",
                [queue, day.isoformat()],
            ).fetchone()
        )
        return row is not None

    async def ever_sent(self, queue: str) -> bool:
        row = await self.db.arun(
            lambda c: c.execute(
                "SELECT 1 FROM digests_sent WHERE queue = ? LIMIT 1", [queue]
            ).fetchone()
        )
        return row is not None

    async def send(self, queue: str, day: date, once: bool = True) -> bool:
        """Post the digest to the queue's manager channels and people.

        With ``once``, a digest already sent for that day is not sent again.
        """
        if once and await self.was_sent(queue, day):
            return False
        chat = self.chat
        rules = queue_rules(self.config, queue)
        if not (rules.digest_channels or rules.digest_people):
            log.debug("%s: no digest recipients are configured", queue)
            return False
        if chat is None:
            log.warning("%s: no chat platform is connected: digest not sent", queue)
            return False
        digest = await self.build(queue, day)
        reply = render_digest(digest)
        # matplotlib takes ~0.1 s: off the event loop, like the SQL above.
        chart = (
            await asyncio.to_thread(render_chart, digest)
            if digest.kpis.offered
            else None
        )
        filename = f"{queue}-{day.isoformat()}.png"
        title = f"{digest.queue_name}: calls per hour, {day.isoformat()}"
        for channel in rules.digest_channels:
            await chat.post(channel, reply)
            if chart:
                await chat.upload(channel, filename, chart, title, "")
        for email in rules.digest_people:
            person = self.find_person(email)
            if person is None:
                log.warning(
                    "%s: digest recipient %s is not in the people list", queue, email
                )
                continue
            await chat.direct(person, reply)
        await self.db.arun(lambda c: _mark_sent(c, queue, day))
        log.info("%s: digest for %s sent", queue, day)
        return True


def _mark_sent(conn: sqlite3.Connection, queue: str, day: date) -> None:
    with conn:
        conn.execute(
            "INSERT OR REPLACE INTO digests_sent (queue, day, sent) VALUES (?, ?, ?)",
            [queue, day.isoformat(), time.time()],
        )
