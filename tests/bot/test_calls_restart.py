"""A call still open when ccbot stops is settled from QueueStatus when it is back."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.app import App
from bot.config import Config
from sandbox.asterisk import Sandbox
from tests.conftest import eventually
from tests.handlers.test_alerts_asterisk import BOB, ZOE, Phone

pytestmark = pytest.mark.asterisk


def outcomes(config: Config) -> dict[str, tuple[str | None, str | None]]:
    conn = sqlite3.connect(config.store_path)
    try:
        rows = conn.execute("SELECT number, outcome, settled FROM calls").fetchall()
    finally:
        conn.close()
    return {number: (outcome, settled) for number, outcome, settled in rows}


async def test_calls_open_across_a_restart_are_settled_not_left_dangling(
    config: Config, pbx: Sandbox
) -> None:
    phone = Phone(pbx.ami_port)
    await phone.start()
    first = App(config)
    assert not await first.connect(wait=5)
    await phone.call("sales", ZOE, patience=3)  # gives up while ccbot is down
    bob = await phone.call("sales", BOB, patience=60)  # still waiting at restart
    await eventually(lambda: len(first.calls.waiting("sales")) == 2, within=5)
    await first.close()
    assert outcomes(config) == {ZOE[1]: (None, ""), BOB[1]: (None, "")}

    await asyncio.sleep(4)  # Zoë hangs up meanwhile
    second = App(config)
    try:
        assert not await second.connect(wait=5)
        await eventually(lambda: outcomes(config)[ZOE[1]][0] is not None, within=5)
        assert outcomes(config)[ZOE[1]] == ("unanswered", "restart")
        assert [r.number for r in second.calls.waiting("sales")] == [BOB[1]]

        await phone.hangup(bob)  # and Bob's call ends as ever, seen live
        await eventually(lambda: outcomes(config)[BOB[1]][0] is not None, within=5)
        await second.calls.flush()
        assert outcomes(config)[BOB[1]] == ("abandoned", "")
    finally:
        await second.close()
        phone.close()
