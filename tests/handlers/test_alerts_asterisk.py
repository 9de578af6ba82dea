"""Missed-call alerts and backlog nudges from real calls on the sandbox Asterisk.

Chat is a recording test double here (the outside system); everything from
the AMI events to the alert decision is ccbot's real path.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from panoramisk import Manager

from bot.app import App
from bot.config import Config
from bot.domain import Person
from bot.kpi import agents, day_window, queue_kpis
from bot.messages import Reply, render_text
from bot.protocols import MessageRef
from handlers.alerts import ALERT_CLAIM, NUDGE_JOIN
from sandbox.asterisk import Sandbox
from tests.conftest import SANDBOX_PORT, config_text, eventually, members, say

pytestmark = pytest.mark.asterisk

SALES = "slack:C0SALES"
BILLING = "slack:C0BILLING"
ZOE = ("Zoë Ångström", "+442071838750")  # formatted: +44 20 7183 8750
BOB = ("Bob Abandoner", "+12025550100")  # formatted: (202) 555-0100
SILENT = "Local/3001@agents/n"


@dataclass
class Sent:
    kind: str
    channel: str
    message: Reply
    at: float
    ref: MessageRef | None = None


@dataclass
class RecordingChat:
    """Stands in for a chat platform: records what ccbot sends."""

    sent: list[Sent] = field(default_factory=list)

    async def post(self, channel: str, message: Reply) -> MessageRef:
        ref = MessageRef(channel, str(len(self.sent) + 1))
        self.sent.append(Sent("post", channel, message, time.time(), ref))
        return ref

    async def update(self, ref: MessageRef, message: Reply) -> None:
        self.sent.append(Sent("update", ref.channel, message, time.time(), ref))

    async def ephemeral(self, channel: str, person: Person, message: Reply) -> None:
        self.sent.append(Sent("ephemeral", channel, message, time.time()))

    async def direct(self, person: Person, message: Reply) -> MessageRef:
        self.sent.append(Sent("direct", person.email, message, time.time()))
        return MessageRef(person.email, str(len(self.sent)))

    async def upload(
        self, channel: str, filename: str, content: bytes, title: str, comment: str
    ) -> None:
        self.sent.append(Sent("upload", channel, Reply(text=title), time.time()))

    def posts(self, channel: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == "post" and s.channel == channel]

    def updates_of(self, ref: MessageRef) -> list[Sent]:
        return [s for s in self.sent if s.kind == "update" and s.ref == ref]


class Phone:
    """The phone network: originates callers and hangs them up over AMI."""

    def __init__(self, port: int) -> None:
        self.manager = Manager(
            host="127.0.0.1",
            port=port,
            username="ccbot",
            secret="sandbox-secret",
            ping_delay=0,
            reconnect_timeout=1,
        )

    async def start(self) -> None:
        await asyncio.wait_for(self.manager.connect(), 5)

    def close(self) -> None:
        self.manager.close()

    async def _send(self, action: dict[str, object], many: bool | None = None) -> Any:
        future = self.manager.send_action(action, as_list=many)
        return await asyncio.wait_for(future, 10)

    async def call(
        self,
        queue: str,
        caller: tuple[str, str],
        patience: int,
        timeout: int = 60,
        talk: int = 2,
    ) -> str:
        """A caller who waits ``patience`` s at most; returns the ;1 channel."""
        name, number = caller
        answer = await self._send(
            {
                "Action": "Originate",
                "Channel": f"Local/{queue}@queue-entry/n",
                "Application": "Wait",
                "Data": str(patience),
                "CallerID": f'"{name}" <{number}>',
                "Variable": [f"QTIMEOUT={timeout}", f"__TALK={talk}"],
                "Async": "true",
            }
        )
        messages = answer if isinstance(answer, list) else [answer]
        done = [m for m in messages if m.event == "OriginateResponse"]
        assert done and done[0].response == "Success", messages
        return str(done[0].channel)

    async def hangup(self, channel: str) -> None:
        """The caller hangs up (the ;1 leg: an abandon while waiting)."""
        reply = await self._send({"Action": "Hangup", "Channel": channel}, many=False)
        assert reply.success, reply

    async def add_member(self, queue: str, interface: str, name: str) -> None:
        reply = await self._send(
            {
                "Action": "QueueAdd",
                "Queue": queue,
                "Interface": interface,
                "MemberName": name,
            },
            many=False,  # panoramisk would wait for a list after "Added … to queue"
        )
        assert reply.success, reply


@pytest.fixture
def workspace(workspace: Path) -> Path:
    text = config_text(SANDBOX_PORT)
    text = text.replace(
        'display_name = "Sales"\n',
        f'display_name = "Sales"\nchannels = ["{SALES}"]\n',
    ).replace(
        'display_name = "Billing"\n',
        f'display_name = "Billing"\nchannels = ["{BILLING}"]\n'
        "nudge_callers = 2\nnudge_cooldown_minutes = 10\n",
    )
    (workspace / "ccbot.toml").write_text(text)
    return workspace


@pytest.fixture
async def chat(app: App) -> RecordingChat:
    recorder = RecordingChat()
    app.alerts.chat = recorder
    return recorder


@pytest.fixture
async def phone(pbx: Sandbox) -> AsyncIterator[Phone]:
    caller = Phone(pbx.ami_port)
    await caller.start()
    yield caller
    caller.close()


def records(config: Config) -> list[sqlite3.Row]:
    conn = sqlite3.connect(config.store_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM calls ORDER BY joined").fetchall()
    finally:
        conn.close()


def fields(message: Reply) -> dict[str, str]:
    for block in message.blocks:
        pairs = getattr(block, "pairs", None)
        if pairs:
            return dict(pairs)
    return {}


async def test_each_missed_call_is_alerted_once_with_number_wait_and_who_rang(
    app: App, chat: RecordingChat, phone: Phone, config: Config
) -> None:
    await phone.add_member("sales", SILENT, "Silent Sue")
    await phone.call("sales", ZOE, patience=60, timeout=7)  # times out, Sue rang
    await phone.call("sales", BOB, patience=3)  # hangs up after 3 s

    await eventually(lambda: len(chat.posts(SALES)) >= 2, within=15)
    await asyncio.sleep(1.5)  # nothing more may come
    await app.calls.flush()

    posts = chat.posts(SALES)
    assert len(posts) == 2
    by_number = {fields(p.message)["Caller"]: p for p in posts}
    assert set(by_number) == {
        "+44 20 7183 8750 (Zoë Ångström)",
        "(202) 555-0100 (Bob Abandoner)",
    }
    zoe = fields(by_number["+44 20 7183 8750 (Zoë Ångström)"].message)
    assert zoe["Waited"] in {"6 s", "7 s", "8 s"}
    assert zoe["Rang"] == "Silent Sue (no answer)"
    assert zoe["Calls today"] == "1"
    bob = by_number["(202) 555-0100 (Bob Abandoner)"].message
    assert "hung up after waiting" in bob.text
    assert fields(bob)["Waited"] in {"2 s", "3 s", "4 s"}

    rows = {r["number"]: r for r in records(config)}
    assert rows[ZOE[1]]["name"] == "Zoë Ångström"
    assert rows[ZOE[1]]["outcome"] == "unanswered"
    assert rows[BOB[1]]["outcome"] == "abandoned"
    for post in posts:
        row = rows[ZOE[1]] if "Zoë" in post.message.text else rows[BOB[1]]
        assert post.at - row["ended"] < 2.0  # within 2 s of the caller leaving

    start, end = day_window(date.today(), "UTC")
    conn = sqlite3.connect(config.store_path)
    k = queue_kpis(conn, "sales", start, end, 20, 1)
    [sue] = agents(conn, "sales", start, end, time.time())
    conn.close()
    assert (k.offered, k.answered, k.abandoned, k.unanswered) == (2, 0, 1, 1)
    assert k.service_level == 0.0
    # Sue rang 5 s (the queue's ring timeout), again after the 1 s retry, and
    # that ring was cut by Zoë's 7 s queue timeout: two ring-no-answers, as in
    # the recorded fixture. Bob hung up while she rang: no ring-no-answer.
    assert (sue.name, sue.answered, sue.missed_rings) == ("Silent Sue", 0, 2)


async def test_claim_shows_who_and_an_answered_call_back_closes_the_alert(
    app: App, chat: RecordingChat, phone: Phone, config: Config, asterisk: Sandbox
) -> None:
    await phone.call("sales", ZOE, patience=2)  # nobody in the queue: abandons
    await eventually(lambda: len(chat.posts(SALES)) == 1, within=10)
    alert = chat.posts(SALES)[0]
    assert alert.ref is not None
    claim = next(
        b
        for block in alert.message.blocks
        for b in getattr(block, "buttons", ())
        if b.action == ALERT_CLAIM
    )

    ana = app.control.person("ana@shop.test")
    shown = await app.alerts.handle_action(claim.action, claim.value, ana)
    assert shown.public
    assert "Ana Lima is calling back." in render_text(shown)
    assert "Ana Lima is calling back" in render_text(
        chat.updates_of(alert.ref)[-1].message
    )

    ben = app.control.person("ben@shop.test")
    again = await app.alerts.handle_action(claim.action, claim.value, ben)
    assert not again.public and "Ana Lima is already calling back" in again.text

    assert (await say(app, "ben@shop.test", "joinqueue sales")).ok
    await eventually(lambda: "Ben Okafor" in members(asterisk, "sales"), within=5)
    await phone.call("sales", ZOE, patience=30, talk=1)  # Ben answers

    def closed() -> bool:
        updates = chat.updates_of(alert.ref)  # type: ignore[arg-type]
        return bool(updates) and "Closed" in render_text(updates[-1].message)

    await eventually(closed, within=10)
    final = render_text(chat.updates_of(alert.ref)[-1].message)
    assert "the caller called again and Ben Okafor answered" in final
    assert "[I'll call back]" not in final
    assert len(chat.posts(SALES)) == 1  # the answered call is no alert


async def test_answered_and_missed_calls_make_the_day_kpis(
    app: App, chat: RecordingChat, phone: Phone, config: Config, asterisk: Sandbox
) -> None:
    assert (await say(app, "ben@shop.test", "joinqueue sales")).ok
    await eventually(lambda: "Ben Okafor" in members(asterisk, "sales"), within=5)
    await phone.call("sales", BOB, patience=30, talk=2)
    await eventually(
        lambda: any(r["outcome"] == "answered" for r in records(config)), within=10
    )
    assert (await say(app, "ben@shop.test", "leavequeue sales")).ok
    await eventually(lambda: "Ben Okafor" not in members(asterisk, "sales"), within=5)
    await phone.call("sales", ZOE, patience=2)
    await eventually(
        lambda: len(records(config)) == 2 and records(config)[-1]["outcome"], within=10
    )
    await app.calls.flush()

    answered, _abandoned = records(config)
    assert answered["agent"] == "ben@shop.test"
    assert answered["talk"] in (1, 2, 3)
    start, end = day_window(date.today(), "UTC")
    conn = sqlite3.connect(config.store_path)
    k = queue_kpis(conn, "sales", start, end, 20, 1)
    conn.close()
    assert (k.offered, k.answered, k.abandoned, k.unanswered) == (2, 1, 1, 0)
    assert k.service_level == pytest.approx(0.5)


async def test_backlog_nudge_is_posted_once_updated_and_closed(
    app: App, chat: RecordingChat, phone: Phone, asterisk: Sandbox
) -> None:
    await phone.call("billing", ZOE, patience=6)
    await asyncio.sleep(0.5)
    assert chat.posts(BILLING) == []  # one caller is no backlog
    await phone.call("billing", BOB, patience=4)

    await eventually(
        lambda: any("are waiting in" in p.message.text for p in chat.posts(BILLING)),
        within=5,
    )
    nudge = next(p for p in chat.posts(BILLING) if "are waiting in" in p.message.text)
    assert "2 callers are waiting in Billing" in nudge.message.text
    assert nudge.ref is not None
    await phone.call("billing", ("Third Caller", "+15417543010"), patience=3)

    def grown() -> bool:
        updates = chat.updates_of(nudge.ref)  # type: ignore[arg-type]
        return any("3 callers are waiting" in u.message.text for u in updates)

    await eventually(grown, within=5)

    def cleared() -> bool:
        updates = chat.updates_of(nudge.ref)  # type: ignore[arg-type]
        return bool(updates) and "cleared" in updates[-1].message.text

    await eventually(cleared, within=10)
    nudges = [p for p in chat.posts(BILLING) if "are waiting in" in p.message.text]
    assert len(nudges) == 1

    join = next(
        b for block in nudge.message.blocks for b in getattr(block, "buttons", ())
    )
    assert join.action == NUDGE_JOIN
    cleo = app.control.person("cleo@shop.test")
    reply = await app.alerts.handle_action(join.action, join.value, cleo)
    assert reply.ok and not reply.public
    await eventually(lambda: "Cleo Park" in members(asterisk, "billing"), within=5)
    membership = {m.queue: m for m in app.control.memberships("cleo@shop.test")}
    assert membership["billing"].until is not None
