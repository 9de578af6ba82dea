"""iCalendar feeds over local HTTP, parsed by icalendar and recurring-ical-events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from bot.domain import Person
from bot.protocols import FreeBusy, PersonCalendar
from integrations.ics.source import IcsSource

FEED = (Path(__file__).parents[2] / "fixtures" / "ics" / "ana.ics").read_text()
START = datetime(2026, 10, 29, tzinfo=UTC)
END = datetime(2026, 11, 8, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
async def feeds() -> AsyncIterator[str]:
    bodies = {"ana": FEED, "broken": "this is not a calendar"}

    async def feed(request: web.Request) -> web.Response:
        body = bodies.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404)
        return web.Response(text=body, content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/{name}.ics", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def read(feeds: str) -> dict[str, PersonCalendar]:
    people = [
        Person(
            "ana@shop.test",
            "Ana",
            "PJSIP/1",
            timezone="Europe/Berlin",
            ics_url=f"{feeds}/ana.ics",
        ),
        Person("ben@shop.test", "Ben", "PJSIP/2", ics_url=f"{feeds}/gone.ics"),
        Person("cleo@shop.test", "Cleo", "PJSIP/3", ics_url=f"{feeds}/broken.ics"),
        Person("sam@shop.test", "Sam", "PJSIP/4"),
    ]
    source = IcsSource(timeout=5)
    try:
        return await source.fetch(people, START, END)
    finally:
        await source.close()


def subjects(calendar: PersonCalendar, subject: str) -> list[datetime]:
    return [i.start for i in calendar.intervals if i.subject == subject]


async def test_a_recurring_series_keeps_its_exceptions(
    read: dict[str, PersonCalendar],
) -> None:
    ana = read["ana@shop.test"]
    standups = subjects(ana, "Stand-up")

    assert utc("2026-11-03T14:00") not in standups  # moved to 11:00 New York
    assert subjects(ana, "Stand-up (moved)") == [utc("2026-11-03T16:00")]
    assert utc("2026-11-04T14:00") not in standups  # EXDATE


async def test_a_series_follows_its_zone_across_daylight_saving(
    read: dict[str, PersonCalendar],
) -> None:
    standups = subjects(read["ana@shop.test"], "Stand-up")

    assert standups[0] == utc("2026-10-30T13:00")  # 09:00 EDT
    assert utc("2026-11-02T14:00") in standups  # 09:00 EST


async def test_an_all_day_event_starts_at_midnight_where_the_person_is(
    read: dict[str, PersonCalendar],
) -> None:
    (offsite,) = [i for i in read["ana@shop.test"].intervals if i.all_day]

    assert offsite.status is FreeBusy.OOF
    assert (offsite.start, offsite.end) == (
        utc("2026-11-04T23:00"),  # midnight in Berlin
        utc("2026-11-05T23:00"),
    )


async def test_private_tentative_and_transparent_events(
    read: dict[str, PersonCalendar],
) -> None:
    by_start = {i.start: i for i in read["ana@shop.test"].intervals}

    private = by_start[utc("2026-11-02T15:00")]
    assert private.private and private.subject == ""
    assert by_start[utc("2026-11-02T17:00")].status is FreeBusy.TENTATIVE
    assert by_start[utc("2026-11-02T18:00")].status is FreeBusy.FREE


async def test_one_bad_feed_is_that_persons_error_only(
    read: dict[str, PersonCalendar],
) -> None:
    assert read["ben@shop.test"].error == "HTTP 404"
    assert read["cleo@shop.test"].error == "feed is not valid iCalendar"
    assert "sam@shop.test" not in read  # no feed, nothing to read
    assert not read["ana@shop.test"].error
