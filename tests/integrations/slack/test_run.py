"""`ccbot run` and `ccbot doctor` as an admin uses them, with Slack enabled."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import Config
from sandbox.asterisk import Sandbox
from tests.conftest import eventually, members
from tests.integrations.slack.conftest import ANA, SlackClient
from tests.integrations.slack.standin import SlackStandIn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def ccbot(workspace: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(workspace / "ccbot.toml"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )


@pytest.fixture
async def running(
    workspace: Path, config: Config, pbx: Sandbox
) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    port = free_port()
    path = workspace / "ccbot.toml"
    path.write_text(path.read_text().replace("port = 0", f"port = {port}"))
    process = await ccbot(workspace, "run")
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    yield port, process
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)


async def test_ccbot_run_serves_slash_commands_in_http_mode(
    running: tuple[int, asyncio.subprocess.Process],
    standin: SlackStandIn,
    pbx: Sandbox,
) -> None:
    port, process = running
    fields = standin.slash_command(ANA, "/joinqueue", "billing")

    async with aiohttp.ClientSession() as session:
        client = SlackClient(f"http://127.0.0.1:{port}/slack/events", session)
        status, _ = await client.command(fields)

    assert status == 200
    await eventually(lambda: bool(standin.responses_at(fields["response_url"])), 10)
    assert (
        "You're in billing" in standin.responses_at(fields["response_url"])[0]["text"]
    )
    assert "Ana Lima" in members(pbx, "billing")
    process.send_signal(signal.SIGTERM)
    _, errors = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert b"Traceback" not in errors and b"xoxb-" not in errors


async def test_ccbot_doctor_reports_the_channel_to_invite_the_bot_to(
    workspace: Path, config: Config, standin: SlackStandIn, pbx: Sandbox
) -> None:
    process = await ccbot(workspace, "doctor")
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    text = out.decode()

    assert process.returncode == 1
    assert "ok Slack: token works for workspace Shop" in text
    assert "!! Slack channel slack:C0SUPPORT" in text and "/invite @ccbot" in text
