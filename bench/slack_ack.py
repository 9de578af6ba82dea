"""Slash command ack latency and time to the final reply, 50 at once.

ccbot's real Slack front end (slack_bolt, HTTP mode, on ccbot's own web
server, the real Asterisk sandbox behind it) runs in this process. Slack's
side (the stand-in Web API and response URLs, plus the sender of signed
slash commands) runs in a child process, as Slack runs on other machines, so
its work does not sit in ccbot's event loop. Each round fires N commands at
the same moment; the figures are the time to the HTTP ack and the time until
the reply reaches its response URL (one monotonic clock for both processes).

    .venv/bin/python -m bench.slack_ack [--commands 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

AMI_PORT = int(os.environ.get("CCBOT_BENCH_AMI_PORT", "15411"))
COMMANDS = ("/joinqueue sales", "/pause lunch for 30m", "/whoison sales", "/me")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# Slack's side, in the child process


async def slack_side(count: int, rounds: int) -> None:
    from tests.integrations.slack.standin import SlackStandIn

    standin = SlackStandIn()
    await standin.start()
    for n in range(count):
        standin.add_user(f"U{n:05d}", f"agent{n}@shop.test", f"Agent {n}")
    standin.add_channel("C0SALES", "sales-calls")
    print(standin.api_url, flush=True)
    url = (await asyncio.to_thread(sys.stdin.readline)).strip()

    acks: list[float] = []
    replies: list[float] = []
    async with aiohttp.ClientSession() as session:
        await one_round(session, url, standin, 4)  # warm-up: Bolt's auth.test
        for _ in range(rounds):
            # Let the Home tab republishes of the last round finish first.
            await asyncio.sleep(1.0)
            round_acks, round_replies = await one_round(session, url, standin, count)
            acks += round_acks
            replies += round_replies
    await standin.stop()
    print(json.dumps({"acks": acks, "replies": replies}), flush=True)


async def one_round(
    session: aiohttp.ClientSession, url: str, standin: object, count: int
) -> tuple[list[float], list[float]]:
    from tests.conftest import eventually
    from tests.integrations.slack.standin import SlackStandIn, form_body, sign

    assert isinstance(standin, SlackStandIn)
    bodies = []
    for n in range(count):
        command, _, text = COMMANDS[n % len(COMMANDS)].partition(" ")
        fields = standin.slash_command(f"U{n:05d}", command, text)
        bodies.append((fields["response_url"].rsplit("/", 1)[1], form_body(fields)))

    async def send(body: str) -> tuple[float, float]:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        began = time.monotonic()
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"ccbot answered {response.status}")
        return began, time.monotonic()

    sent = await asyncio.gather(*(send(body) for _, body in bodies))
    # answered_at is stamped on arrival, so polling here costs no accuracy.
    with contextlib.suppress(AssertionError):
        await eventually(
            lambda: all(key in standin.answered_at for key, _ in bodies), 30
        )
    missing = sum(key not in standin.answered_at for key, _ in bodies)
    if missing:
        print(f"{missing} replies did not arrive within 30 s", file=sys.stderr)
    acks = [(done - began) * 1000 for began, done in sent]
    replies = [
        (standin.answered_at[key] - began) * 1000
        for (key, _), (began, _) in zip(bodies, sent, strict=True)
        if key in standin.answered_at
    ]
    return acks, replies


# ccbot's side, in this process


def workspace(folder: Path, api_url: str, people: int) -> Path:
    from tests.conftest import config_text
    from tests.integrations.slack.conftest import slack_section
    from tests.integrations.slack.standin import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET

    os.environ.update(
        CCBOT_TEST_AMI_SECRET="sandbox-secret",
        CCBOT_TEST_SLACK_BOT=BOT_TOKEN,
        CCBOT_TEST_SLACK_APP=APP_TOKEN,
        CCBOT_TEST_SLACK_SECRET=SIGNING_SECRET,
    )
    (folder / "ccbot.toml").write_text(config_text(AMI_PORT) + slack_section(api_url))
    rows = ["email,name,extension,queues,role"]
    rows += [
        f"agent{n}@shop.test,Agent {n},{2100 + n},sales,agent" for n in range(people)
    ]
    (folder / "people.csv").write_text("\n".join(rows) + "\n")
    return folder / "ccbot.toml"


async def ccbot_side(count: int, rounds: int) -> dict[str, list[float]]:
    from bot import config as config_module
    from bot.app import App
    from integrations.slack.app import EVENTS_PATH

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.slack_ack",
        "--slack-side",
        f"--commands={count}",
        f"--rounds={rounds}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    api_url = (await child.stdout.readline()).decode().strip()
    with tempfile.TemporaryDirectory() as folder:
        app = App(config_module.load(str(workspace(Path(folder), api_url, count))))
        try:
            away = await app.connect(wait=5)
            if away:
                raise RuntimeError(f"the sandbox Asterisk is not reachable: {away}")
            await app.start_front_ends()
            assert app.web is not None
            url = f"http://127.0.0.1:{app.web.port}{EVENTS_PATH}\n"
            child.stdin.write(url.encode())
            await child.stdin.drain()
            result = json.loads(await child.stdout.readline())
            await child.wait()
        finally:
            await app.close()
    return result


def main(count: int, rounds: int) -> None:
    from sandbox.asterisk import Sandbox

    sandbox = Sandbox(name="slack-bench", ami_port=AMI_PORT)
    sandbox.start(fresh=True)
    try:
        result = asyncio.run(ccbot_side(count, rounds))
    finally:
        sandbox.stop()
    print(f"{count} concurrent slash commands x {rounds} rounds (HTTP mode)")
    for name, key in (("ack", "acks"), ("final reply", "replies")):
        values = result[key]
        print(
            f"  {name:12} p50 {percentile(values, 0.50):7.1f} ms   "
            f"p99 {percentile(values, 0.99):7.1f} ms   "
            f"mean {statistics.fmean(values):7.1f} ms   n={len(values)}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slack-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.slack_side:
        asyncio.run(slack_side(args.commands, args.rounds))
    else:
        main(args.commands, args.rounds)
