"""The AMI adapter against the real sandbox Asterisk: actions, errors, events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.config import PbxSettings
from bot.domain import Member
from bot.errors import (
    AlreadyDone,
    NoSuchQueue,
    NotAMember,
    PbxUnavailable,
    StaticMember,
)
from bot.protocols import AddMember, PauseMember, RemoveMember
from integrations.asterisk.ami import AmiPbx
from sandbox.asterisk import Sandbox
from tests.conftest import SANDBOX_PORT, members

ANA = "Local/2001@from-queue/n"


def settings(**changes: object) -> PbxSettings:
    values = {
        "name": "main",
        "port": SANDBOX_PORT,
        "username": "ccbot",
        "secret_env": "UNUSED",
        "action_timeout": 2,
        "reconnect_max": 1,
    }
    values.update(changes)
    return PbxSettings.model_validate(values)


@pytest.fixture
async def ami(pbx: Sandbox) -> AsyncIterator[AmiPbx]:
    adapter = AmiPbx(settings(), "sandbox-secret")
    assert await adapter.start(wait=5)
    yield adapter
    await adapter.close()


def add(queue: str = "sales", paused: bool = False, reason: str = "") -> AddMember:
    return AddMember(queue, ANA, "Ana Lima", "hint:2001@ext-local", paused, reason)


async def test_add_pause_and_remove_show_in_queue_show(
    ami: AmiPbx, pbx: Sandbox
) -> None:
    await ami.send(add())
    assert "Ana Lima" in members(pbx, "sales")

    await ami.send(PauseMember("sales", ANA, True, "lunch"))
    assert "paused:lunch" in members(pbx, "sales")["Ana Lima"]

    await ami.send(RemoveMember("sales", ANA))
    assert "Ana Lima" not in members(pbx, "sales")


async def test_snapshot_reports_members_and_start_time(ami: AmiPbx) -> None:
    await ami.send(add(paused=True, reason="training"))

    snapshot = await ami.snapshot()

    assert {"sales", "support", "billing"} <= set(snapshot.queues)
    ana = snapshot.queues["sales"].members[ANA]
    assert (ana.name, ana.paused, ana.reason, ana.static) == (
        "Ana Lima",
        True,
        "training",
        False,
    )
    sam = snapshot.queues["support"].members["Local/9000@agents/n"]
    assert sam.static
    assert snapshot.startup


async def test_error_responses_become_core_errors(ami: AmiPbx) -> None:
    await ami.send(add())

    with pytest.raises(AlreadyDone, match="already a member of sales"):
        await ami.send(add())
    with pytest.raises(NoSuchQueue, match="no queue named nowhere"):
        await ami.send(add(queue="nowhere"))
    with pytest.raises(AlreadyDone, match="not a member of support"):
        await ami.send(RemoveMember("support", ANA))
    with pytest.raises(NotAMember):
        await ami.send(PauseMember("billing", ANA, True, "x"))
    with pytest.raises(StaticMember):
        await ami.send(RemoveMember("support", "Local/9000@agents/n"))


async def test_header_injection_is_neutralised(ami: AmiPbx, pbx: Sandbox) -> None:
    await ami.send(add())

    await ami.send(PauseMember("sales", ANA, True, "lunch\r\nAction: QueueRemove"))

    assert "paused:lunch Action: QueueRemove" in members(pbx, "sales")["Ana Lima"]


async def test_bad_login_is_named(pbx: Sandbox) -> None:
    adapter = AmiPbx(settings(), "not-the-secret")
    try:
        problem = await adapter.check_login(3)
    finally:
        await adapter.close()

    assert problem is not None and "login refused for user 'ccbot'" in problem
    assert "not-the-secret" not in problem


async def test_actions_while_down_fail_fast_and_reconnect_follows(pbx: Sandbox) -> None:
    adapter = AmiPbx(settings(), "sandbox-secret")
    seen: list[tuple[str, str, Member | None]] = []

    async def on_member(queue: str, interface: str, member: Member | None) -> None:
        seen.append((queue, interface, member))

    adapter.on_member = on_member
    try:
        assert await adapter.start(wait=5)
        pbx.stop()
        await asyncio.sleep(0.3)
        with pytest.raises(PbxUnavailable):
            await adapter.send(add())

        pbx.start()
        for _ in range(100):
            if adapter.connected:
                break
            await asyncio.sleep(0.1)
        assert adapter.connected
        await adapter.send(add())
        for _ in range(20):
            await adapter.drain()
            if ("sales", ANA) in [(q, i) for q, i, m in seen if m is not None]:
                break
            await asyncio.sleep(0.05)
    finally:
        await adapter.close()
    assert ("sales", ANA) in [(q, i) for q, i, m in seen if m is not None]


def test_backoff_doubles_and_is_capped() -> None:
    adapter = AmiPbx(settings(reconnect_max=4), "x")

    delays = [adapter.next_delay() for _ in range(8)]

    assert 0.4 <= delays[0] <= 0.5
    assert delays[1] > delays[0]
    assert max(delays) <= 4
    assert delays[-1] >= 3.2
