"""Missed-call alert latency, from the AMI event to the Slack post, 50 at once.

The real sandbox Asterisk holds N callers in `sales` (nobody answers); then
all N hang up at the same moment. ccbot (its AMI client, call tracker, alert
rules and Slack adapter over real HTTP) runs in this process; the stand-in
Slack Web API runs in a child process, as Slack runs elsewhere, and stamps
each chat.postMessage on arrival. The figure per call: the stand-in's arrival
time minus the moment ccbot's AMI reader received that caller's
QueueCallerAbandon (one monotonic clock for both processes).

    .venv/bin/python bench/alert_latency.py [--callers 50] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SELF = str(Path(__file__).resolve())
AMI_PORT = int(os.environ.get("CCBOT_BENCH_AMI_PORT", "15432"))
CHANNEL = "C0SALES"
CALLER = re.compile(r"\(Bench (\d+-\d+)\)")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# Slack's side, in the child process


async def slack_side() -> None:
    from tests.integrations.slack.standin import SlackStandIn

    arrived: dict[str, float] = {}

    class StampingStandIn(SlackStandIn):
        def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
            found = CALLER.search(str(args.get("text", "")))
            if found:
                arrived.setdefault(found.group(1), time.monotonic())
            return super()._m_chat_postMessage(args)

    standin = StampingStandIn()
    await standin.start()
    standin.add_channel(CHANNEL, "sales-calls")
    print(standin.api_url, flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # ccbot says it is done
    await standin.stop()
    print(json.dumps(arrived), flush=True)


# ccbot's side, in this process


def workspace(folder: Path, api_url: str) -> Path:
    from tests.conftest import PEOPLE, config_text
    from tests.integrations.slack.conftest import slack_section
    from tests.integrations.slack.standin import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET

    os.environ.update(
        CCBOT_TEST_AMI_SECRET="sandbox-secret",
        CCBOT_TEST_SLACK_BOT=BOT_TOKEN,
        CCBOT_TEST_SLACK_APP=APP_TOKEN,
        CCBOT_TEST_SLACK_SECRET=SIGNING_SECRET,
    )
    text = config_text(AMI_PORT).replace(
        'display_name = "Sales"\n',
        f'display_name = "Sales"\nchannels = ["slack:{CHANNEL}"]\n',
    )
    (folder / "ccbot.toml").write_text(text + slack_section(api_url))
    (folder / "people.csv").write_text(PEOPLE)
    return folder / "ccbot.toml"


async def one_round(
    app: Any, phone: Any, round_no: int, callers: int
) -> dict[str, float]:
    """Hold ``callers`` in the queue, hang them all up at once; AMI stamps."""
    stamps: dict[str, float] = {}
    pbx = app.pbxes["main"]
    hook = pbx.on_event

    def stamped(message: Any) -> None:
        if str(message.get("Event", "")).lower() == "queuecallerabandon":
            found = CALLER.search(f"({message.get('CallerIDName', '')})")
            if found:
                stamps.setdefault(found.group(1), time.monotonic())
        hook(message)

    pbx.on_event = stamped
    try:
        legs = await asyncio.gather(
            *(
                phone.call(
                    "sales",
                    (f"Bench {round_no}-{n}", f"+1202555{100 + n:04d}"),
                    patience=120,
                )
                for n in range(callers)
            )
        )
        await _until(lambda: len(app.calls.waiting("sales")) == callers, 30)
        await asyncio.gather(*(phone.hangup(leg) for leg in legs))
        await _until(lambda: len(stamps) == callers, 30)
        await _until(lambda: _alerts_posted(app) >= callers * round_no, 30)
    finally:
        pbx.on_event = hook
    return stamps


def _alerts_posted(app: Any) -> int:
    return int(
        app.calls.db.run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM alerts WHERE refs != '[]'"
            ).fetchone()[0]
        )
    )


async def _until(check: Any, within: float) -> None:
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > within:
            raise RuntimeError("timed out waiting for the calls")
        await asyncio.sleep(0.02)


async def ccbot_side(callers: int, rounds: int) -> tuple[list[float], int]:
    from bot import config as config_module
    from bot.app import App
    from tests.handlers.test_alerts_asterisk import Phone

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        SELF,
        "--slack-side",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    api_url = (await child.stdout.readline()).decode().strip()
    stamps: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        app = App(config_module.load(str(workspace(Path(folder), api_url))))
        phone = Phone(AMI_PORT)
        try:
            if await app.connect(wait=5):
                raise RuntimeError("the sandbox Asterisk is not reachable")
            await app.start_front_ends()
            await app.start_calls()
            await phone.start()
            for round_no in range(1, rounds + 1):
                stamps |= await one_round(app, phone, round_no, callers)
                await asyncio.sleep(0.5)
            child.stdin.write(b"done\n")
            await child.stdin.drain()
            arrived = json.loads(await child.stdout.readline())
            await child.wait()
        finally:
            phone.close()
            await app.close()
    latencies = [
        (arrived[key] - at) * 1000 for key, at in stamps.items() if key in arrived
    ]
    return latencies, len(stamps) - len(latencies)


def main(callers: int, rounds: int) -> None:
    from sandbox.asterisk import Sandbox

    sandbox = Sandbox(name="calls-bench", ami_port=AMI_PORT)
    sandbox.start(fresh=True)
    try:
        latencies, missing = asyncio.run(ccbot_side(callers, rounds))
    finally:
        with contextlib.suppress(Exception):
            sandbox.stop()
    print(f"{callers} callers abandoning at once x {rounds} rounds")
    print(
        f"  AMI event -> Slack post: p50 {percentile(latencies, 0.50):6.1f} ms   "
        f"p99 {percentile(latencies, 0.99):6.1f} ms   "
        f"max {max(latencies):6.1f} ms   mean {statistics.fmean(latencies):6.1f} ms"
        f"   n={len(latencies)}"
        + (f"   ({missing} never posted)" if missing else "")
        + " — target p99 500 ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--slack-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.slack_side:
        asyncio.run(slack_side())
    else:
        main(args.callers, args.rounds)
