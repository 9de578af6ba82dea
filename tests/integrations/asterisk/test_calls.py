"""Recorded Asterisk 22 event streams through the AMI call mapping and tracker."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from panoramisk.message import Message

from bot.calls import CallDb, CallRecord, CallTracker, Outcome
from bot.config import Config, PbxSettings
from bot.domain import Caller, PbxSnapshot, QueueSnapshot
from integrations.asterisk.ami import AmiPbx
from integrations.asterisk.calls import CallEvents

FIXTURES = Path(__file__).parents[2] / "fixtures" / "asterisk"


def recorded(name: str) -> list[Message]:
    """The fixture's events as panoramisk parses them off the wire."""
    text = (FIXTURES / name).read_bytes().decode("utf-8")
    blocks = [b for b in text.split("\r\n\r\n") if b.strip()]
    messages = [Message.from_line(block.strip("\r\n")) for block in blocks]
    return [m for m in messages if m is not None]


class Clock:
    def __init__(self) -> None:
        self.now = 1_796_292_500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def tracker(config: Config) -> AsyncIterator[CallTracker]:
    tracked = CallTracker(config, CallDb(config.store_path), clock=Clock())
    yield tracked
    await tracked.close()
    tracked.db.close()


def replay(events: CallEvents, messages: list[Message], step: float = 0.1) -> None:
    clock = events.clock
    for message in messages:
        assert isinstance(clock, Clock)
        clock.now += step
        events(message)


def stored(config: Config) -> list[sqlite3.Row]:
    conn = sqlite3.connect(config.store_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM calls ORDER BY joined").fetchall()
    finally:
        conn.close()


def listen(tracker: CallTracker) -> list[CallRecord]:
    missed: list[CallRecord] = []
    tracker.on_missed.append(missed.append)
    return missed


async def test_answered_call_is_one_answered_record(
    tracker: CallTracker, config: Config
) -> None:
    missed = listen(tracker)
    events = CallEvents("main", tracker, clock=tracker.clock)
    replay(events, recorded("answered.txt"))
    await tracker.flush()

    [row] = stored(config)
    assert row["uniqueid"] == "1796292526.1"
    assert row["queue"] == "sales"
    assert row["outcome"] == "answered"
    assert row["number"] == "+15550100"
    assert row["name"] == "Carol Caller"
    assert row["wait"] == 0
    assert row["talk"] == 2
    assert row["agent_name"] == "Alice Agent"
    assert missed == []
    assert tracker.open == {}


async def test_caller_hanging_up_while_ringing_is_an_abandon(
    tracker: CallTracker, config: Config
) -> None:
    missed = listen(tracker)
    events = CallEvents("main", tracker, clock=tracker.clock)
    replay(events, recorded("abandoned.txt"))
    await tracker.flush()

    [row] = stored(config)
    assert row["outcome"] == "abandoned"
    assert row["wait"] == 3
    assert [r.rung for r in missed] == [["Silent Sue"]]
    assert missed[0].missed_by == []  # a hangup while ringing is no ring-no-answer


async def test_queue_timeout_is_unanswered_with_the_agent_who_missed_it(
    tracker: CallTracker, config: Config
) -> None:
    missed = listen(tracker)
    events = CallEvents("main", tracker, clock=tracker.clock)
    replay(events, recorded("ringnoanswer_timeout.txt"))
    await tracker.flush()

    [row] = stored(config)
    assert row["outcome"] == "unanswered"
    assert row["wait"] == 10
    assert len(missed) == 1
    assert missed[0].missed_by == ["Silent Sue"]
    conn = sqlite3.connect(config.store_path)
    rings = conn.execute("SELECT member, ring_ms FROM rings ORDER BY at").fetchall()
    conn.close()
    assert rings == [("Silent Sue", 5000), ("Silent Sue", 4000)]


async def test_every_stream_in_a_row_settles_each_call_once(
    tracker: CallTracker, config: Config
) -> None:
    missed = listen(tracker)
    events = CallEvents("main", tracker, clock=tracker.clock)
    for name in ("answered.txt", "abandoned.txt", "ringnoanswer_timeout.txt"):
        replay(events, recorded(name))
    await tracker.flush()

    outcomes = [row["outcome"] for row in stored(config)]
    assert outcomes == ["answered", "abandoned", "unanswered"]
    assert [r.outcome for r in missed] == [Outcome.ABANDONED, Outcome.UNANSWERED]


async def test_pause_transitions_are_kept_for_time_paused_by_reason(
    tracker: CallTracker, config: Config
) -> None:
    events = CallEvents("main", tracker, clock=tracker.clock)
    replay(events, recorded("answered.txt"))
    await tracker.flush()

    conn = sqlite3.connect(config.store_path)
    pauses = conn.execute(
        "SELECT queue, interface, paused, reason FROM member_pauses ORDER BY at"
    ).fetchall()
    conn.close()
    assert pauses == [
        ("sales", "Local/2001@agents/n", 1, "lunch"),
        ("sales", "Local/2001@agents/n", 0, ""),
    ]


def _first_part(messages: list[Message], last_event: str) -> list[Message]:
    for index, message in enumerate(messages):
        if message.event == last_event:
            return messages[: index + 1]
    raise AssertionError(last_event)


async def test_call_open_at_restart_is_settled_from_queue_status(
    config: Config,
) -> None:
    clock = Clock()
    before = CallTracker(config, CallDb(config.store_path), clock=clock)
    replay(
        CallEvents("main", before, clock=clock),
        _first_part(recorded("abandoned.txt"), "AgentCalled"),
    )
    await before.flush()
    before.db.close()  # ccbot stops with the caller still waiting

    after = CallTracker(config, CallDb(config.store_path), clock=clock)
    missed = listen(after)
    empty = PbxSnapshot("main", "boot", {"sales": QueueSnapshot("sales")})
    assert await after.settle_open("main", empty) == 1
    await after.close()
    after.db.close()

    [row] = stored(config)
    assert row["outcome"] == "unanswered"
    assert row["settled"] == "restart"
    assert row["ended"] is not None
    assert len(missed) == 1


async def test_call_still_waiting_at_restart_stays_open(config: Config) -> None:
    clock = Clock()
    before = CallTracker(config, CallDb(config.store_path), clock=clock)
    replay(
        CallEvents("main", before, clock=clock),
        _first_part(recorded("abandoned.txt"), "AgentCalled"),
    )
    await before.flush()
    before.db.close()

    after = CallTracker(config, CallDb(config.store_path), clock=clock)
    caller = Caller("sales", "1796292530.5", "+15550100", "Carol Caller", wait=2)
    snapshot = PbxSnapshot(
        "main", "boot", {"sales": QueueSnapshot("sales", callers=[caller])}
    )
    assert await after.settle_open("main", snapshot) == 0
    assert [r.uniqueid for r in after.waiting("sales")] == ["1796292530.5"]

    # the rest of the stream now settles it as an abandon, as without a restart
    rest = recorded("abandoned.txt")[
        len(_first_part(recorded("abandoned.txt"), "AgentCalled")) :
    ]
    replay(CallEvents("main", after, clock=clock), rest)
    await after.close()
    after.db.close()
    [row] = stored(config)
    assert row["outcome"] == "abandoned"


class SplittingAmi:
    """An AMI server that sends one recorded event cut inside a UTF-8 letter,
    the way a TCP read boundary can fall: the bytes arrive in two reads."""

    def __init__(self, event: bytes, cut: int) -> None:
        self.event, self.cut = event, cut
        self.port = 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.server = server
        self.port = server.sockets[0].getsockname()[1]

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        login = await reader.readuntil(b"\r\n\r\n")
        action_id = next(
            line.split(": ", 1)[1]
            for line in login.decode().split("\r\n")
            if line.startswith("ActionID")
        )
        writer.write(
            f"Response: Success\r\nActionID: {action_id}\r\n"
            "Message: Authentication accepted\r\n\r\n"
            "Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n".encode()
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        for part in (self.event[: self.cut], self.event[self.cut :]):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.1)  # two separate reads on the other side
        await reader.read()  # until ccbot hangs up


async def test_a_letter_split_across_two_reads_comes_through_intact() -> None:
    join = next(m for m in recorded("abandoned.txt") if m.event == "QueueCallerJoin")
    text = "".join(f"{k}: {v}\r\n" for k, v in join.items() if k != "content")
    wire = (text.replace("Carol Caller", "Zoë Ångström") + "\r\n").encode("utf-8")
    server = SplittingAmi(wire, wire.index("ë".encode()) + 1)  # inside the ë
    await server.start()
    settings = PbxSettings(
        name="main", port=server.port, username="ccbot", secret_env="UNUSED"
    )
    pbx = AmiPbx(settings, "secret")
    seen: list[str] = []
    pbx.on_event = lambda m: seen.append(str(m.get("CallerIDName", "")))
    try:
        assert await pbx.start(wait=3)
        await asyncio.sleep(0.5)
    finally:
        await pbx.close()
        server.server.close()
    assert "Zoë Ångström" in seen
