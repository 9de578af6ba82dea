"""The `ccbot` command as a user runs it: real processes, a real Asterisk."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.asterisk import Sandbox
from tests.conftest import SANDBOX_PORT, config_text, members

ANA, BEN = "ana@shop.test", "ben@shop.test"


def ccbot(
    workspace: Path, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(workspace / "ccbot.toml"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ},
    )


@pytest.fixture
def imported(workspace: Path) -> Path:
    result = ccbot(workspace, "people", "import")
    assert result.returncode == 0, result.stderr
    return workspace


@pytest.fixture
def running(imported: Path, pbx: Sandbox) -> Iterator[subprocess.Popen[str]]:
    """`ccbot run` in the background, as an admin would start it."""
    log = (imported / "run.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(imported / "ccbot.toml"),
            "-v",
            "run",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for_log(imported / "run.log", "ccbot running")
    yield process
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def _wait_for_log(path: Path, text: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path}:\n{path.read_text()}")


def _wait_for(check, within: float) -> float:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    while time.monotonic() - began < within:
        if check():
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"not true within {within} s")


def test_say_exit_codes(imported: Path, pbx: Sandbox) -> None:
    done = ccbot(imported, "say", "--as", ANA, "/joinqueue sales")
    refused = ccbot(imported, "say", "--as", ANA, "/joinqueue nosuchqueue")
    stranger = ccbot(imported, "say", "--as", "eve@elsewhere.test", "/me")
    usage = ccbot(imported, "say", "/me")

    assert done.returncode == 0 and "You're in sales" in done.stdout
    assert refused.returncode == 1 and "no queue called nosuchqueue" in refused.stdout
    assert stranger.returncode == 1 and "not in ccbot's people list" in stranger.stdout
    assert usage.returncode == 2 and "--as" in usage.stderr
    assert "Ana Lima" in members(pbx, "sales")


def test_refusals_are_one_line_and_change_nothing(imported: Path, pbx: Sandbox) -> None:
    for text in ("/joinqueue salse", "/pause for 5 bananas", "/leavequeue support"):
        result = ccbot(imported, "say", "--as", "sam@shop.test", text)
        assert result.returncode == 1, text
        assert len(result.stdout.strip().splitlines()) == 1, result.stdout
    assert "paused" not in members(pbx, "support")["Static Sam"]
    assert set(members(pbx, "sales")) == set()


def test_state_survives_a_ccbot_restart(imported: Path, pbx: Sandbox) -> None:
    ccbot(imported, "say", "--as", ANA, "/joinqueue sales")
    ccbot(imported, "say", "--as", ANA, "/pause lunch")

    me = ccbot(imported, "say", "--as", ANA, "/me")

    assert "paused (lunch)" in me.stdout and "Sales" in me.stdout
    assert "paused:lunch" in members(pbx, "sales")["Ana Lima"]


def test_asterisk_restart_restores_members_and_pauses(
    running: subprocess.Popen[str], imported: Path, pbx: Sandbox
) -> None:
    ccbot(imported, "say", "--as", ANA, "/joinqueue sales")
    ccbot(imported, "say", "--as", BEN, "/joinqueue sales")
    ccbot(imported, "say", "--as", BEN, "/pause coaching")

    began = time.monotonic()
    pbx.restart()
    _wait_for(
        lambda: (
            "Ana Lima" in members(pbx, "sales")
            and "paused:coaching" in members(pbx, "sales").get("Ben Okafor", "")
        ),
        within=10,
    )
    assert time.monotonic() - began < 10


def test_change_while_asterisk_is_down_is_saved_and_applied_later(
    running: subprocess.Popen[str], imported: Path, pbx: Sandbox
) -> None:
    pbx.stop()
    result = ccbot(imported, "say", "--as", ANA, "/joinqueue sales")

    assert result.returncode == 0
    assert "saved" in result.stdout and "as soon as it's back" in result.stdout

    pbx.start()
    _wait_for(lambda: "Ana Lima" in members(pbx, "sales"), within=10)


def test_changes_from_say_are_not_mistaken_for_outside_ones(
    running: subprocess.Popen[str], imported: Path, pbx: Sandbox
) -> None:
    ccbot(imported, "say", "--as", ANA, "/joinqueue sales for 2h")
    ccbot(imported, "say", "--as", ANA, "/pause lunch for 30m")
    time.sleep(1.5)  # `run` has seen the AMI events of both by now

    me = ccbot(imported, "say", "--as", ANA, "/me")

    assert "paused: lunch until" in me.stdout and "`/unpause`" not in me.stdout
    assert re.search(r"Sales\s+in, until", me.stdout)
    assert ": adopted" not in (imported / "run.log").read_text()


def test_time_boxed_join_made_by_say_is_ended_by_run(
    running: subprocess.Popen[str], imported: Path, pbx: Sandbox
) -> None:
    ccbot(imported, "say", "--as", BEN, "/joinqueue sales for 3s")
    assert "Ben Okafor" in members(pbx, "sales")

    _wait_for(lambda: "Ben Okafor" not in members(pbx, "sales"), within=6)


def test_outside_changes_are_adopted_not_fought(
    running: subprocess.Popen[str], imported: Path, pbx: Sandbox
) -> None:
    ccbot(imported, "say", "--as", ANA, "/joinqueue sales")
    pbx.cli("queue add member Local/2002@from-queue/n to support penalty 0 as Ben")
    pbx.cli("queue pause member Local/2001@from-queue/n queue sales reason DeskPhone")
    time.sleep(1.5)

    me = ccbot(imported, "say", "--as", ANA, "/me")
    ben = ccbot(imported, "say", "--as", BEN, "/me")

    assert "paused (DeskPhone)" in me.stdout
    assert "Support" in ben.stdout
    assert "paused:DeskPhone" in members(pbx, "sales")["Ana Lima"]
    assert "Ben" in members(pbx, "support")

    pbx.cli("queue unpause member Local/2001@from-queue/n queue sales")
    time.sleep(1.0)
    assert "not paused" in ccbot(imported, "say", "--as", ANA, "/me").stdout.lower()


def test_doctor_names_each_problem(
    workspace: Path, pbx: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = config_text(SANDBOX_PORT).replace('name = "billing"', 'name = "refunds"')
    (workspace / "ccbot.toml").write_text(text)
    monkeypatch.setenv("CCBOT_TEST_AMI_SECRET", "wrong-secret")
    ccbot(workspace, "people", "import")

    wrong_secret = ccbot(workspace, "doctor")
    monkeypatch.setenv("CCBOT_TEST_AMI_SECRET", "sandbox-secret")
    missing_queue = ccbot(workspace, "doctor")

    assert wrong_secret.returncode == 1
    assert (
        "login refused" in wrong_secret.stdout
        and "wrong-secret" not in wrong_secret.stdout
    )
    assert missing_queue.returncode == 1
    assert (
        "queue refunds" in missing_queue.stdout
        and "no such queue" in missing_queue.stdout
    )
    assert "queue sales: exists" in missing_queue.stdout


def test_broken_config_lists_every_problem_and_does_not_start(workspace: Path) -> None:
    (workspace / "ccbot.toml").write_text(
        """
[[pbx]]
name = "main"
port = "five"
username = "ccbot"

[[queue]]
name = "sales"
pbx = "other"
colour = "blue"
"""
    )

    result = ccbot(workspace, "run", timeout=10)

    assert result.returncode == 2
    assert "pbx[1].port" in result.stderr
    assert "pbx[1].secret_env: required setting is missing" in result.stderr
    assert "queue[1].colour: unknown setting" in result.stderr
    assert "ccbot can't start" in result.stderr


def test_a_queue_asterisk_lacks_is_refused_and_nothing_is_kept(
    imported: Path, pbx: Sandbox
) -> None:
    text = config_text(SANDBOX_PORT) + '\n[[queue]]\nname = "marketing"\n'
    (imported / "ccbot.toml").write_text(text)

    result = ccbot(imported, "say", "--as", ANA, "/joinqueue marketing")
    me = ccbot(imported, "say", "--as", ANA, "/me")

    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == [
        "Asterisk has no queue named marketing, so nothing changed there. "
        "Ask your admin to check it with `ccbot doctor`."
    ]
    assert "Marketing" not in me.stdout


def test_a_refused_login_is_named_in_the_reply(
    imported: Path, pbx: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCBOT_TEST_AMI_SECRET", "wrong")

    result = ccbot(imported, "say", "--as", ANA, "/joinqueue sales")

    assert result.returncode == 0
    assert "Asterisk refused ccbot's login" in result.stdout
    assert "saved" in result.stdout and "wrong" not in result.stdout


def test_a_second_run_on_the_same_store_is_refused(
    running: subprocess.Popen[str], imported: Path
) -> None:
    second = ccbot(imported, "run", timeout=15)

    assert second.returncode == 1
    assert "another `ccbot run`" in second.stderr and str(running.pid) in second.stderr


def test_chat_refuses_a_stranger_and_quits_on_quit(
    imported: Path, pbx: Sandbox
) -> None:
    stranger = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(imported / "ccbot.toml"),
            "chat",
            "--as",
            "eve@elsewhere.test",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        input="/me\n",
    )
    ana = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(imported / "ccbot.toml"),
            "chat",
            "--as",
            ANA,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        input="/joinqueue sales\n/quit\n/me\n",
    )

    assert stranger.returncode == 1 and "not in ccbot's people list" in stranger.stdout
    assert ana.returncode == 0 and "You're in sales" in ana.stdout
    assert "Queues" not in ana.stdout, "nothing after /quit runs"
