"""Digest and report speed, each against a bare SQL aggregate over the same rows.

- one day of 20,000 calls in one queue: ccbot's whole digest (KPIs, 24 hourly
  buckets, per-agent table with pause time, last week's figures); target 200 ms;
- a 30-day report over 1,000,000 call records in another queue; target 2 s.

The bare aggregate is one `SELECT COUNT(*), SUM(wait), SUM(talk)` over the
same window, run on the same database in the same run: the floor for reading
those rows. Run: `.venv/bin/python bench/digest.py [--calls N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.calls import QueueRules
from bot.store import Store
from handlers.digest import build_digest, render_chart

ZONE = "Europe/Lisbon"
AGENTS = [f"agent{n:02d}@shop.test" for n in range(50)]
LAST = date(2026, 11, 30)


def rules(queue: str) -> QueueRules:
    return QueueRules(
        queue=queue,
        display_name=queue.capitalize(),
        channels=(),
        service_level_seconds=20,
        short_abandon_seconds=5,
        nudge_callers=0,
        nudge_wait_seconds=0,
        nudge_cooldown_minutes=15,
        digest_channels=(),
        digest_people=(),
        digest_time="08:00",
        digest_timezone=ZONE,
    )


def fill(
    conn: sqlite3.Connection, queue: str, calls: int, first: date, days: int
) -> None:
    """Calls spread over the days' working hours, with rings and pauses."""
    from bot.kpi import day_window

    rng = random.Random(f"{queue}{first}")
    tag = f"{queue}.{first.isoformat()}"
    start, _ = day_window(first, ZONE)
    span = days * 86400
    rows, rings = [], []
    for n in range(calls):
        joined = start + rng.random() * span
        roll = rng.random()
        wait = int(rng.expovariate(1 / 25))
        agent = rng.choice(AGENTS)
        if roll < 0.82:
            outcome, talk, answered = (
                "answered",
                int(rng.expovariate(1 / 180)),
                joined + wait,
            )
        elif roll < 0.95:
            outcome, talk, answered, agent = "abandoned", None, None, ""
        else:
            outcome, talk, answered, agent = "unanswered", None, None, ""
        rows.append(
            (
                "main",
                f"{tag}.{n}",
                queue,
                "+351912345678",
                "+351912345678",
                joined,
                answered,
                joined + wait + (talk or 0),
                wait,
                talk,
                outcome,
                agent,
                agent,
            )
        )
        if rng.random() < 0.1:
            rings.append(("main", f"{tag}.{n}", queue, agent, agent, joined, 15000))
    conn.executemany(
        "INSERT INTO calls (pbx, uniqueid, queue, number, number_key, joined, "
        "answered, ended, wait, talk, outcome, agent, agent_name) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO rings (pbx, uniqueid, queue, agent, member, at, ring_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rings,
    )
    pauses = []
    for day in range(days):
        base = start + day * 86400
        for agent in AGENTS:
            begin = base + rng.uniform(11, 14) * 3600
            pauses.append(("main", queue, agent, agent, 1, "lunch", begin))
            pauses.append(("main", queue, agent, agent, 0, "", begin + 1800))
    conn.executemany(
        "INSERT INTO member_pauses (pbx, queue, agent, member, paused, reason, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        pauses,
    )
    conn.commit()


def bare(conn: sqlite3.Connection, queue: str, first: date, last: date) -> tuple:
    from bot.kpi import day_window

    start, _ = day_window(first, ZONE)
    _, end = day_window(last, ZONE)
    return conn.execute(
        "SELECT COUNT(*), SUM(wait), SUM(talk) FROM calls "
        "WHERE queue = ? AND joined >= ? AND joined < ?",
        [queue, start, end],
    ).fetchone()


def timed(work: Callable[[], object], runs: int) -> float:
    """Median milliseconds of ``runs`` runs."""
    took = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        took.append((time.perf_counter() - began) * 1000)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--day-calls", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        Store(path).close()  # the real schema and indexes
        conn = sqlite3.connect(path)
        began = time.perf_counter()
        fill(conn, "support", args.day_calls, LAST, 1)
        fill(conn, "support", 3_000, LAST - timedelta(days=7), 1)  # last week
        first = LAST - timedelta(days=29)
        fill(conn, "sales", args.calls, first, 30)
        fill(conn, "sales", args.calls * 7 // 30, first - timedelta(days=7), 7)
        print(f"loaded in {time.perf_counter() - began:.1f} s")
        total = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        in_span = bare(conn, "sales", first, LAST)[0]
        print(f"{total} call records; {in_span} in the 30-day span")

        day = build_digest(conn, rules("support"), LAST, now=time.time())
        assert day.kpis.offered == args.day_calls, day.kpis.offered
        digest_ms = timed(
            lambda: build_digest(conn, rules("support"), LAST, now=time.time()),
            args.runs,
        )
        bare_day_ms = timed(lambda: bare(conn, "support", LAST, LAST), args.runs)
        chart_ms = timed(lambda: render_chart(day), args.runs)
        print(
            f"digest, one day of {args.day_calls} calls: {digest_ms:.1f} ms "
            f"(bare aggregate {bare_day_ms:.1f} ms; chart PNG {chart_ms:.1f} ms "
            "more) — target 200 ms"
        )

        report_ms = timed(
            lambda: build_digest(conn, rules("sales"), first, LAST, now=time.time()),
            args.runs,
        )
        bare_span_ms = timed(lambda: bare(conn, "sales", first, LAST), args.runs)
        print(
            f"30-day report over {in_span} of {total} records: {report_ms:.0f} ms "
            f"(bare aggregate {bare_span_ms:.0f} ms) — target 2000 ms"
        )
        conn.close()


if __name__ == "__main__":
    main()
