"""Asterisk auto-pauses an agent whose phone rang unanswered: they get a DM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.messages import render_text
from sandbox.asterisk import Sandbox
from tests.conftest import eventually, members, say
from tests.handlers.test_alerts_asterisk import ZOE, Phone, RecordingChat

pytestmark = pytest.mark.asterisk

SUE = "sue@shop.test"


@pytest.fixture
def workspace(workspace: Path) -> Path:
    # 3XXX extensions ring and never answer
    with (workspace / "people.csv").open("a") as people:
        people.write(f"{SUE},Silent Sue,3001,,,billing,agent,UTC\n")
    return workspace


@pytest.fixture
def autopausing(pbx: Sandbox) -> Sandbox:
    """The phone admin turns on queues.conf `autopause` (off in the sandbox)."""
    conf = pbx.home / "etc" / "queues.conf"
    conf.write_text(conf.read_text().replace("autopause = no", "autopause = yes"))
    pbx.cli("queue reload parameters")
    return pbx


@pytest.fixture
async def phone(autopausing: Sandbox) -> AsyncIterator[Phone]:
    caller = Phone(autopausing.ami_port)
    await caller.start()
    yield caller
    caller.close()


async def test_auto_paused_agent_is_told_why_and_how_to_resume(
    app: App, autopausing: Sandbox, phone: Phone
) -> None:
    chat = RecordingChat()
    app.alerts.chat = chat
    assert (await say(app, SUE, "joinqueue billing")).ok
    await eventually(lambda: "Silent Sue" in members(autopausing, "billing"), within=5)

    await phone.call("billing", ZOE, patience=30, timeout=8)  # rings Sue for 5 s

    await eventually(lambda: any(s.kind == "direct" for s in chat.sent), within=12)
    [notice] = [s for s in chat.sent if s.kind == "direct"]
    assert notice.channel == SUE
    text = render_text(notice.message)
    assert "paused you" in text and "Billing" in text and "`/unpause`" in text
    assert "paused" in members(autopausing, "billing")["Silent Sue"].lower()

    reply = await say(app, SUE, "unpause")
    assert reply.ok, reply.text
    await eventually(
        lambda: "paused" not in members(autopausing, "billing")["Silent Sue"].lower(),
        within=5,
    )
