"""The sandbox Asterisk starts, serves AMI and comes back clean after a restart."""

from __future__ import annotations

import os
import time

import pytest

from sandbox.asterisk import Sandbox, ami_login

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="the sandbox Asterisk needs root (chroot and mount)"
    ),
]

STATIC_MEMBER = "Static Sam (Local/9000@agents/n from hint:9000@agents)"


def test_restart_keeps_static_member_and_forgets_dynamic_ones() -> None:
    sandbox = Sandbox(name="smoke", ami_port=15099)
    try:
        sandbox.start(fresh=True)
        assert STATIC_MEMBER in sandbox.queue_show("support")
        sandbox.cli(
            "queue add member Local/2001@agents/n to sales penalty 0 as Alice"
            " state_interface hint:2001@agents"
        )
        assert "Alice (Local/2001@agents/n" in sandbox.queue_show("sales")

        began = time.monotonic()
        sandbox.restart()
        assert time.monotonic() - began < 5

        assert STATIC_MEMBER in sandbox.queue_show("support")
        assert "No Members" in sandbox.queue_show("sales")
        assert ami_login(15099, sandbox.ami_username, sandbox.ami_secret)
    finally:
        sandbox.stop()
    assert not sandbox.running()
