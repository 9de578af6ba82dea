"""One calendar refresh for 2,000 people against the Graph stand-in.

The stand-in runs in its own process (so its JSON work does not share the
client's event loop) and adds 100 ms to every response. The figures are the
wall time of one refresh (calendar views, users with mailbox settings, then
presence) and the HTTP requests it made against the least the documented
limits allow: 20 requests per JSON batch, 650 ids per presence request.

Run: .venv/bin/python bench/calendar_refresh.py [PEOPLE]
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.availability import Availability
from bot.config import GraphSettings, parse
from bot.control import Control
from bot.domain import Person
from bot.store import Store
from integrations.graph.source import BATCH_LIMIT, PRESENCE_LIMIT, GraphSource
from scheduler.calendar import CalendarJobs
from scheduler.jobs import Scheduler
from tests.integrations.graph.standin import (
    CLIENT_ID,
    TENANT,
    GraphStandIn,
    Mailbox,
)

LATENCY = 0.100
SECRET = "bench-secret"


def mailboxes(count: int, day: datetime) -> dict[str, Mailbox]:
    found = {}
    for n in range(count):
        email = f"person{n}@shop.test"
        events = [
            {
                "id": f"evt-{n}-{k}",
                "subject": f"Meeting {k}",
                "showAs": ("busy", "tentative", "free", "oof")[k % 4],
                "sensitivity": "normal",
                "isAllDay": False,
                "isCancelled": False,
                "type": "singleInstance",
                "start": {"dateTime": _stamp(day, 9 + k), "timeZone": "UTC"},
                "end": {"dateTime": _stamp(day, 9 + k, 30), "timeZone": "UTC"},
            }
            for k in range(4)
        ]
        settings = {
            "timeZone": "W. Europe Standard Time",
            "workingHours": {
                "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                "startTime": "08:00:00.0000000",
                "endTime": "17:00:00.0000000",
                "timeZone": {"name": "W. Europe Standard Time"},
            },
            "automaticRepliesSetting": {"status": "disabled"},
        }
        presence = {"availability": "Busy", "activity": "InACall"}
        found[email] = Mailbox(email, f"id-{n:05d}", events, settings, presence)
    return found


def _stamp(day: datetime, hour: int, minute: int = 0) -> str:
    moment = day.replace(hour=hour, minute=minute)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000")


def serve(count: int, folder: str, ready: multiprocessing.Queue, done) -> None:  # type: ignore[no-untyped-def, type-arg]
    async def main() -> None:
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        server = GraphStandIn(mailboxes(count, day), SECRET, LATENCY, Path(folder))
        await server.start()
        ready.put((server.url, server.graph_url, server.ca_path))
        await asyncio.to_thread(done.wait)
        ready.put(dict(server.counts))
        await server.close()

    asyncio.run(main())


async def whole_refresh(settings: GraphSettings, count: int, folder: str) -> float:
    """The same read, plus what ccbot does with it: store, plan, arm, settle."""
    raw = {
        "store": {"path": f"{folder}/bench.db"},
        "pbx": [{"name": "main", "username": "ccbot", "secret_env": "UNSET"}],
        "queue": [{"name": "sales"}],
        "calendar": {"source": "graph", "lead_minutes": 2},
        "graph": settings.model_dump(),
    }
    config = parse(raw, Path(folder) / "ccbot.toml")
    store = Store(config.store_path)
    for n in range(count):
        store.upsert_person(Person(f"person{n}@shop.test", f"P{n}", f"PJSIP/{n}"))
    scheduler = Scheduler()
    control = Control(config, store, {}, timers=scheduler)
    availability = Availability(control, config.settings.calendar, "graph")
    jobs = CalendarJobs(availability, GraphSource(settings), scheduler)
    began = time.monotonic()
    report = await jobs.refresh()
    await jobs.presence()
    took = time.monotonic() - began
    assert report.failed == 0 and report.jobs > 0, report
    await jobs.close()
    store.close()
    return took


async def refresh(settings: GraphSettings, count: int) -> tuple[float, int]:
    people = [Person(f"person{n}@shop.test", f"P{n}", "PJSIP/1") for n in range(count)]
    source = GraphSource(settings)
    now = datetime.now(UTC)
    began = time.monotonic()
    found = await source.fetch(people, now, now + timedelta(hours=12))
    readings = await source.presence(people)
    took = time.monotonic() - began
    await source.close()
    failed = [c.email for c in found.values() if c.error]
    assert not failed and len(readings) == count, (failed[:3], len(readings))
    return took, source.requests


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    folder = tempfile.mkdtemp()
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    done = multiprocessing.Event()
    child = multiprocessing.Process(target=serve, args=(count, folder, ready, done))
    child.start()
    authority, graph_url, ca_path = ready.get(timeout=60)
    os.environ["CCBOT_BENCH_GRAPH_SECRET"] = SECRET
    settings = GraphSettings(
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret_env="CCBOT_BENCH_GRAPH_SECRET",
        graph_url=graph_url,
        authority_host=authority,
        ca_bundle=ca_path,
    )
    try:
        took, requests = asyncio.run(refresh(settings, count))
        whole = asyncio.run(whole_refresh(settings, count, folder))
    finally:
        done.set()
    counts = ready.get(timeout=30)
    child.join(timeout=30)

    minimum = math.ceil(2 * count / BATCH_LIMIT) + math.ceil(count / PRESENCE_LIMIT)
    print(f"people:                 {count}")
    print(f"added latency:          {LATENCY * 1000:.0f} ms per response")
    print(f"wall time:              {took:.2f} s (target < 10 s)")
    print(f"with store + scheduling: {whole:.2f} s (CalendarJobs.refresh + presence)")
    print(f"Graph requests:         {requests} (+{counts.get('token', 0)} token)")
    print(f"least the limits allow: {minimum} ({2 * count} requests / 20 per batch")
    print(f"                        + {count} ids / 650 per presence request)")
    print(f"ratio:                  {requests / minimum:.2f} (target <= 1.20)")
    print(f"stand-in saw:           {counts}")


if __name__ == "__main__":
    main()
