"""Shared fixtures: the real Asterisk sandbox, a workspace, a running App."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bot import config as config_module
from bot.app import App
from bot.config import Config
from bot.messages import Reply
from bot.people import import_csv
from bot.store import Store
from sandbox.asterisk import Sandbox

# Several test runs can share the machine: each names its own instance and port.
SANDBOX_PORT = int(os.environ.get("CCBOT_TEST_AMI_PORT", "15300"))
SANDBOX_NAME = os.environ.get("CCBOT_TEST_SANDBOX", "pytest")
SECRET_ENV = "CCBOT_TEST_AMI_SECRET"

PEOPLE = """\
email,name,extension,interface,state_interface,queues,role,timezone
ana@shop.test,Ana Lima,2001,,,sales;support,agent,Europe/Lisbon
ben@shop.test,Ben Okafor,2002,,,sales,agent,Africa/Lagos
cleo@shop.test,Cleo Park,2003,,,support,manager,Asia/Seoul
sam@shop.test,Static Sam,,Local/9000@agents/n,hint:9000@agents,support,agent,UTC
"""


def config_text(
    port: int, store: str = "ccbot.db", secret_env: str = SECRET_ENV
) -> str:
    return f"""\
[store]
path = "{store}"

[[pbx]]
name = "main"
port = {port}
username = "ccbot"
secret_env = "{secret_env}"
action_timeout = 3
connect_timeout = 3
reconnect_max = 2

[[queue]]
name = "sales"
display_name = "Sales"

[[queue]]
name = "support"
display_name = "Support"

[[queue]]
name = "billing"
display_name = "Billing"

[people]
csv = "people.csv"
interface = "Local/{{extension}}@from-queue/n"
state_interface = "hint:{{extension}}@ext-local"
default_timezone = "UTC"
"""


@pytest.fixture(scope="session")
def asterisk() -> Iterator[Sandbox]:
    """One real Asterisk for the whole run; CI fails, never skips, without it."""
    sandbox = Sandbox(name=SANDBOX_NAME, ami_port=SANDBOX_PORT)
    sandbox.start(fresh=True)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def pbx(asterisk: Sandbox) -> Sandbox:
    """A freshly restarted Asterisk: no dynamic members, nobody paused."""
    if not asterisk.running():
        asterisk.start()
    asterisk.restart()
    return asterisk


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(SECRET_ENV, "sandbox-secret")
    (tmp_path / "ccbot.toml").write_text(config_text(SANDBOX_PORT))
    (tmp_path / "people.csv").write_text(PEOPLE)
    return tmp_path


@pytest.fixture
def config(workspace: Path) -> Config:
    loaded = config_module.load(str(workspace / "ccbot.toml"))
    store = Store(loaded.store_path)
    report = import_csv(loaded.people_csv, store, loaded.settings.people, loaded.queues)
    assert not report.problems, report.problems
    store.close()
    return loaded


@pytest.fixture
async def app(config: Config, pbx: Sandbox) -> AsyncIterator[App]:
    running = App(config)
    away = await running.connect(wait=5)
    assert not away, f"could not reach the sandbox Asterisk: {away}"
    yield running
    await running.close()


async def say(app: App, email: str, text: str) -> Reply:
    return await app.commands.handle(email, text)


def members(sandbox: Sandbox, queue: str) -> dict[str, str]:
    """`queue show QUEUE` as {member name: its whole line}."""
    found = {}
    for line in sandbox.queue_show(queue).splitlines():
        match = re.match(r"^\s+(.+?) \((Local|PJSIP|SIP)/", line)
        if match:
            found[match.group(1)] = line
    return found


async def eventually(check: Callable[[], bool], within: float = 1.0) -> float:
    """Wait until ``check`` holds; return how long it took, fail past ``within``."""
    began = time.monotonic()
    while True:
        if check():
            return time.monotonic() - began
        if time.monotonic() - began > within:
            raise AssertionError(f"not true within {within} s")
        await asyncio.sleep(0.05)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") == "true" and skipped:
        terminalreporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; in CI every service must be "
            "there, so this run fails.",
            red=True,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") == "true" and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
