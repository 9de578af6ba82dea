"""Calendars pause and resume people in the real Asterisk, to the second.

APScheduler fires on the real clock, so each meeting is set a few seconds
ahead of now. Graph is the stand-in on 127.0.0.1 behind the real msgraph-sdk
and azure-identity; the iCalendar feed is served over local HTTP.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bot import config as config_module
from bot.app import App
from bot.domain import Layer, Person
from bot.messages import Reply, render_text
from bot.people import import_csv
from bot.protocols import MessageRef
from bot.store import Store
from sandbox.asterisk import Sandbox
from tests.conftest import members, say
from tests.integrations.graph.standin import (
    CLIENT_ID,
    TENANT,
    GraphStandIn,
    Mailbox,
)

ANA = "ana@shop.test"
SECRET_ENV, SECRET = "CCBOT_TEST_GRAPH_SECRET", "stand-in-client-secret"
ON_TIME = 0.5  # seconds either side of the planned moment


@dataclass
class RecordingChat:
    """The chat platform, an outside system: records each direct message."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    async def post(self, channel: str, message: Reply) -> MessageRef | None:
        return None

    async def update(self, ref: MessageRef, message: Reply) -> None:
        return None

    async def ephemeral(self, channel: str, person: Person, message: Reply) -> None:
        return None

    async def direct(self, person: Person, message: Reply) -> MessageRef | None:
        self.sent.append((person.email, render_text(message)))
        return None

    async def upload(
        self, channel: str, filename: str, content: bytes, title: str, comment: str
    ) -> None:
        return None

    def texts(self, email: str) -> list[str]:
        return [text for who, text in self.sent if who == email]


def whole_second(offset: float) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    return now + timedelta(seconds=1 + offset)


def graph_event(subject: str, start: datetime, end: datetime) -> dict[str, object]:
    def stamp(moment: datetime) -> dict[str, str]:
        return {
            "dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC",
        }

    return {
        "id": f"evt-{subject}",
        "subject": subject,
        "showAs": "busy",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": False,
        "type": "singleInstance",
        "start": stamp(start),
        "end": stamp(end),
    }


async def line_of(pbx: Sandbox, queue: str, name: str) -> str:
    found = await asyncio.to_thread(members, pbx, queue)
    return found.get(name, "")


async def when_true(
    check: Callable[[], Awaitable[bool]], within: float = 15.0
) -> datetime:
    """The wall-clock moment ``check`` first held, polling without blocking."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return datetime.now(UTC)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {within} s")
        await asyncio.sleep(0.02)


def seconds_off(seen: datetime, planned: datetime) -> float:
    return abs((seen - planned).total_seconds())


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[GraphStandIn]:
    mailboxes = {
        email: Mailbox(email, f"id-{email.split('@')[0]}")
        for email in (ANA, "ben@shop.test", "cleo@shop.test", "sam@shop.test")
    }
    server = GraphStandIn(mailboxes, SECRET, tmp=tmp_path)
    await server.start()
    yield server
    await server.close()


AppMaker = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(
    workspace: Path, pbx: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AppMaker]:
    made: list[App] = []
    monkeypatch.setenv(SECRET_ENV, SECRET)

    async def make(calendar: str, graph: GraphStandIn | None = None) -> App:
        path = workspace / "ccbot.toml"
        text = path.read_text() + calendar
        if graph is not None:
            text += (
                f'\n[graph]\ntenant_id = "{TENANT}"\nclient_id = "{CLIENT_ID}"\n'
                f'client_secret_env = "{SECRET_ENV}"\ngraph_url = "{graph.graph_url}"\n'
                f'authority_host = "{graph.url}"\nca_bundle = "{graph.ca_path}"\n'
            )
        path.write_text(text)
        loaded = config_module.load(str(path))
        store = Store(loaded.store_path)
        import_csv(loaded.people_csv, store, loaded.settings.people, loaded.queues)
        store.close()
        app = App(loaded)
        made.append(app)
        assert not await app.connect(wait=5)
        app.scheduler.start()
        app.availability.chat = RecordingChat()
        return app

    yield make
    for app in made:
        await app.close()


def chat_of(app: App) -> RecordingChat:
    assert isinstance(app.availability.chat, RecordingChat)
    return app.availability.chat


GRAPH = '\n[calendar]\nsource = "graph"\npresence = false\nlead_minutes = {lead}\n'


async def test_graph_meeting_pauses_at_its_start_and_resumes_at_its_end(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(3), whole_second(6)
    graph.mailboxes[ANA].events = [graph_event("Budget review", start, end)]
    app = await make_app(GRAPH.format(lead=0), graph)
    await say(app, ANA, "/joinqueue sales")

    await app.start_calendar()

    paused_at = await when_true(
        lambda: _has(pbx, "paused:Meeting until", "sales", "Ana Lima")
    )
    resumed_at = await when_true(lambda: _lacks(pbx, "paused", "sales", "Ana Lima"))
    assert seconds_off(paused_at, start) < ON_TIME
    assert seconds_off(resumed_at, end) < ON_TIME
    texts = chat_of(app).texts(ANA)
    assert texts[0].startswith("Paused in Sales until ") and "for a meeting" in texts[0]
    assert "`/unpause` to stay available" in texts[0]
    assert texts[1] == "Taking calls again in Sales: your meeting has ended."


async def test_lead_minutes_pause_before_the_meeting(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(6), whole_second(8)
    graph.mailboxes[ANA].events = [graph_event("Planning", start, end)]
    app = await make_app(GRAPH.format(lead=0.05), graph)  # 3 seconds
    await say(app, ANA, "/joinqueue sales")

    await app.start_calendar()

    paused_at = await when_true(lambda: _has(pbx, "paused", "sales", "Ana Lima"))
    assert seconds_off(paused_at, start - timedelta(seconds=3)) < ON_TIME


async def test_manual_pause_in_a_meeting_outlasts_the_meeting(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(3), whole_second(6)
    graph.mailboxes[ANA].events = [graph_event("Budget review", start, end)]
    app = await make_app(GRAPH.format(lead=0), graph)
    await say(app, ANA, "/joinqueue sales")
    await app.start_calendar()
    await when_true(lambda: _has(pbx, "paused:Meeting", "sales", "Ana Lima"))

    await say(app, ANA, "/pause lunch")
    await asyncio.sleep((end - datetime.now(UTC)).total_seconds() + 1.5)

    assert "paused:lunch" in await line_of(pbx, "sales", "Ana Lima")
    pause = app.control.effective_pause(ANA)
    assert pause is not None and pause.layer is Layer.MANUAL


async def test_unpause_in_a_meeting_keeps_you_available_until_it_ends(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(3), whole_second(8)
    graph.mailboxes[ANA].events = [graph_event("Budget review", start, end)]
    app = await make_app(GRAPH.format(lead=0), graph)
    await say(app, ANA, "/joinqueue sales")
    await app.start_calendar()
    await when_true(lambda: _has(pbx, "paused:Meeting", "sales", "Ana Lima"))

    reply = await say(app, ANA, "/unpause")
    assert app.calendar is not None
    await app.calendar.refresh()  # the meeting is still on the calendar

    assert reply.ok and "taking calls again in sales" in reply.text
    assert "won't pause you again before" in reply.text
    assert "paused" not in await line_of(pbx, "sales", "Ana Lima")
    await asyncio.sleep((end - datetime.now(UTC)).total_seconds() + 1)
    assert "paused" not in await line_of(pbx, "sales", "Ana Lima")
    assert not any("Taking calls again" in t for t in chat_of(app).texts(ANA))


async def test_unpausing_on_the_phone_in_a_meeting_is_adopted_the_same_way(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(3), whole_second(9)
    graph.mailboxes[ANA].events = [graph_event("Budget review", start, end)]
    app = await make_app(GRAPH.format(lead=0), graph)
    await say(app, ANA, "/joinqueue sales")
    await app.start_calendar()
    await when_true(lambda: _has(pbx, "paused:Meeting", "sales", "Ana Lima"))

    interface = app.control.person(ANA).interface
    await asyncio.to_thread(pbx.cli, f"queue unpause member {interface} queue sales")
    await when_true(lambda: _lacks(pbx, "paused", "sales", "Ana Lima"))
    assert app.calendar is not None
    await app.calendar.refresh()
    await asyncio.sleep(1)

    assert "paused" not in await line_of(pbx, "sales", "Ana Lima")
    assert app.control.effective_pause(ANA) is None


async def test_a_failed_refresh_keeps_the_last_good_schedule(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(4), whole_second(7)
    graph.mailboxes[ANA].events = [graph_event("Budget review", start, end)]
    app = await make_app(GRAPH.format(lead=0), graph)
    await say(app, ANA, "/joinqueue sales")
    await app.start_calendar()

    graph.tokens.clear()  # every request now fails sign-in
    graph.secret = "rotated"
    assert app.calendar is not None
    report = await app.calendar.refresh()
    me = render_text(await say(app, ANA, "/me"))

    assert report.error
    assert "Couldn't read your calendar at" in me
    assert "Next change: paused at" in me
    paused_at = await when_true(
        lambda: _has(pbx, "paused:Meeting", "sales", "Ana Lima")
    )
    resumed_at = await when_true(lambda: _lacks(pbx, "paused", "sales", "Ana Lima"))
    assert seconds_off(paused_at, start) < ON_TIME
    assert seconds_off(resumed_at, end) < ON_TIME


async def test_me_shows_each_layer_and_the_next_change(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(2), whole_second(600)
    graph.mailboxes[ANA].events = [graph_event("Budget review", start, end)]
    app = await make_app(GRAPH.format(lead=0), graph)
    await say(app, ANA, "/joinqueue sales")
    await app.start_calendar()
    await when_true(lambda: _has(pbx, "paused:Meeting", "sales", "Ana Lima"))

    me = render_text(await say(app, ANA, "/me"))

    assert "Calendar" in me and "paused: Meeting until" in me
    assert "Presence" not in me, "presence is off in this config"
    assert "Next change: resumes at" in me

    await say(app, ANA, "/pause tea")
    me = render_text(await say(app, ANA, "/me"))

    assert "Next change: the meeting ends at" in me and "your own pause stays" in me


ICS = '\n[calendar]\nsource = "ics"\npresence = false\n'


def ics_feed(start: datetime, end: datetime) -> str:
    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y%m%dT%H%M%SZ")

    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ccbot tests//EN\r\n"
        "BEGIN:VEVENT\r\nUID:e2e@shop.test\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART:{stamp(start)}\r\nDTEND:{stamp(end)}\r\n"
        "SUMMARY:Design crit\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture
async def feeds() -> AsyncIterator[dict[str, str]]:
    served: dict[str, str] = {}

    async def feed(request: web.Request) -> web.Response:
        body = served.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404)
        return web.Response(text=body, content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/{name}.ics", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served["_base"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield served
    await runner.cleanup()


async def test_ics_feed_pauses_and_resumes_to_the_second(
    make_app: AppMaker, feeds: dict[str, str], workspace: Path, pbx: Sandbox
) -> None:
    start, end = whole_second(3), whole_second(6)
    feeds["ana"] = ics_feed(start, end)
    people = (workspace / "people.csv").read_text().splitlines()
    people[0] += ",ics_url"
    people[1] += f",{feeds['_base']}/ana.ics"
    people[2] += f",{feeds['_base']}/missing.ics"
    (workspace / "people.csv").write_text("\n".join(people) + "\n")
    app = await make_app(ICS)
    await say(app, ANA, "/joinqueue sales")

    await app.start_calendar()

    paused_at = await when_true(
        lambda: _has(pbx, "paused:Meeting until", "sales", "Ana Lima")
    )
    resumed_at = await when_true(lambda: _lacks(pbx, "paused", "sales", "Ana Lima"))
    assert seconds_off(paused_at, start) < ON_TIME
    assert seconds_off(resumed_at, end) < ON_TIME
    ben = app.availability.schedule("ben@shop.test")
    assert ben is not None and ben.error == "HTTP 404"


async def _has(pbx: Sandbox, text: str, queue: str, name: str) -> bool:
    return text in await line_of(pbx, queue, name)


async def _lacks(pbx: Sandbox, text: str, queue: str, name: str) -> bool:
    line = await line_of(pbx, queue, name)
    return bool(line) and text not in line


async def test_teams_presence_pauses_during_a_call_and_resumes_after(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    graph.mailboxes[ANA].presence = {"availability": "Busy", "activity": "InACall"}
    app = await make_app(
        '\n[calendar]\nsource = "graph"\npresence_seconds = 3600\n', graph
    )
    await say(app, ANA, "/joinqueue sales")
    await app.start_calendar()
    assert app.calendar is not None

    await app.calendar.presence()
    await when_true(lambda: _has(pbx, "paused:On a Teams call", "sales", "Ana Lima"))
    graph.mailboxes[ANA].presence = {
        "availability": "Available",
        "activity": "Available",
    }
    await app.calendar.presence()

    await when_true(lambda: _lacks(pbx, "paused", "sales", "Ana Lima"))
    assert app.control.pauses(ANA) == []


async def test_leave_mode_takes_people_out_of_the_queue_until_the_end(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(3), whole_second(6)
    graph.mailboxes[ANA].events = [graph_event("All hands", start, end)]
    calendar = GRAPH.format(lead=0) + '\n[calendar.queues.sales]\non_busy = "leave"\n'
    app = await make_app(calendar, graph)
    await say(app, ANA, "/joinqueue sales support")
    await app.start_calendar()

    left_at = await when_true(lambda: _absent(pbx, "sales", "Ana Lima"), within=10)
    assert "paused:Meeting" in await line_of(pbx, "support", "Ana Lima")
    back_at = await when_true(lambda: _lacks(pbx, "paused", "sales", "Ana Lima"))

    assert seconds_off(left_at, start) < ON_TIME
    assert seconds_off(back_at, end) < ON_TIME
    assert "paused" not in await line_of(pbx, "support", "Ana Lima")


async def test_working_hours_log_people_in_and_out(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(3), whole_second(6)
    graph.mailboxes[ANA].mailbox_settings = {
        "timeZone": "UTC",
        "workingHours": {
            "daysOfWeek": [
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            ],
            "startTime": start.strftime("%H:%M:%S.0000000"),
            "endTime": end.strftime("%H:%M:%S.0000000"),
            "timeZone": {"name": "UTC"},
        },
    }
    calendar = '\n[calendar]\nsource = "graph"\npresence = false\n'
    app = await make_app(calendar + "working_hours_login = true\n", graph)
    await app.start_calendar()

    joined_at = await when_true(lambda: _present(pbx, "sales", "Ana Lima"))
    assert "Ana Lima" in await asyncio.to_thread(members, pbx, "support")
    gone_at = await when_true(lambda: _absent(pbx, "sales", "Ana Lima"))

    assert seconds_off(joined_at, start) < ON_TIME
    assert seconds_off(gone_at, end) < ON_TIME


async def test_calendar_dm_off_silences_the_messages(
    make_app: AppMaker, graph: GraphStandIn, pbx: Sandbox
) -> None:
    start, end = whole_second(3), whole_second(5)
    graph.mailboxes[ANA].events = [graph_event("Budget review", start, end)]
    app = await make_app(GRAPH.format(lead=0), graph)
    await say(app, ANA, "/joinqueue sales")

    reply = await say(app, ANA, "/calendar dm off")
    await app.start_calendar()
    await when_true(lambda: _has(pbx, "paused:Meeting", "sales", "Ana Lima"))
    await when_true(lambda: _lacks(pbx, "paused", "sales", "Ana Lima"))

    assert reply.ok and "No more messages" in reply.text
    assert chat_of(app).texts(ANA) == []


async def test_calendar_show_prints_the_day_and_why(
    make_app: AppMaker, graph: GraphStandIn, workspace: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    soon = now + timedelta(minutes=5)
    graph.mailboxes[ANA].events = [
        graph_event("Budget review", soon, soon + timedelta(minutes=30)),
        {
            **graph_event("Maybe lunch", soon, soon + timedelta(minutes=60)),
            "showAs": "tentative",
        },
    ]
    await make_app(GRAPH.format(lead=0), graph)

    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "ccbot"),
        "--config",
        str(workspace / "ccbot.toml"),
        "calendar",
        "show",
        "--as",
        ANA,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    text = out.decode()

    assert process.returncode == 0, err.decode()
    assert "Budget review" in text and "pauses: shown as busy" in text
    assert "Maybe lunch" in text and "no: tentative, and tentative = false" in text
    assert "Meeting until" in text


async def _present(pbx: Sandbox, queue: str, name: str) -> bool:
    return name in await asyncio.to_thread(members, pbx, queue)


async def _absent(pbx: Sandbox, queue: str, name: str) -> bool:
    return not await _present(pbx, queue, name)
