"""Event ingestion: ccbot's whole event path against panoramisk's bare parse.

Replays a recorded AMI stream (tests/fixtures/asterisk, repeated with fresh
Uniqueids) over a local socket twice: once into a bare panoramisk Manager
that only counts events, once into ccbot's App (AMI adapter, core, store).
Prints events per second for both and their ratio. Target: ccbot at least
half the bare rate.

    .venv/bin/python bench/event_ingestion.py [--repeats 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panoramisk import Manager

from bench.amistream import ReplayServer, recorded_stream
from bot import config as config_module

PEOPLE = """\
email,name,interface,state_interface,queues
alice@bench.test,Alice Agent,Local/2001@agents/n,hint:2001@agents,sales
bob@bench.test,Bob Agent,Local/3001@agents/n,hint:3001@agents,sales
"""


async def bare(stream: bytes) -> float:
    server = ReplayServer(stream)
    port = await server.start()
    done = asyncio.Event()
    count = 0

    def on_event(manager: Manager, message: object) -> None:
        nonlocal count
        count += 1

    manager = Manager(
        host="127.0.0.1",
        port=port,
        username="u",
        secret="s",
        loop=asyncio.get_running_loop(),
    )
    manager.register_event("*", on_event)
    manager.register_event("BenchDone", lambda *_: done.set())
    manager.connect()
    while not manager.authenticated:  # noqa: ASYNC110 - panoramisk has no login event
        await asyncio.sleep(0.001)
    began = time.perf_counter()
    manager.send_action({"Action": "BenchReplay"}, as_list=False)
    await done.wait()
    took = time.perf_counter() - began
    manager.close()
    await server.close()
    return took


async def ccbot(stream: bytes, workdir: Path) -> float:
    from bot.app import App

    server = ReplayServer(stream)
    port = await server.start()
    (workdir / "people.csv").write_text(PEOPLE)
    (workdir / "ccbot.toml").write_text(
        f"""
[store]
path = "bench.db"
[[pbx]]
name = "main"
port = {port}
username = "u"
secret_env = "BENCH_SECRET"
[[queue]]
name = "sales"
[[queue]]
name = "support"
[people]
csv = "people.csv"
"""
    )
    os.environ["BENCH_SECRET"] = "s"
    app = App(config_module.load(str(workdir / "ccbot.toml")))
    pbx = app.pbxes["main"]
    done = asyncio.Event()
    original = pbx.on_event

    def on_event(message: object) -> None:
        if original is not None:
            original(message)
        if getattr(message, "event", "") == "BenchDone":
            done.set()

    pbx.on_event = on_event
    await app.connect(wait=5)
    began = time.perf_counter()
    await pbx.request({"Action": "BenchReplay"})
    await done.wait()
    await pbx.drain()
    app.control.flush()
    took = time.perf_counter() - began
    await app.close()
    await server.close()
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stream, events = recorded_stream(args.repeats)
    print(f"stream: {events} events, {len(stream) / 1e6:.1f} MB")

    bare_times, ccbot_times = [], []
    for _ in range(args.rounds):
        bare_times.append(await bare(stream))
        with tempfile.TemporaryDirectory() as tmp:
            ccbot_times.append(await ccbot(stream, Path(tmp)))
    bare_rate = events / min(bare_times)
    ccbot_rate = events / min(ccbot_times)
    print(
        f"panoramisk bare parse : {bare_rate:10,.0f} events/s (best of {args.rounds})"
    )
    print(
        f"ccbot end to end      : {ccbot_rate:10,.0f} events/s (best of {args.rounds})"
    )
    print(f"ratio                 : {ccbot_rate / bare_rate:.2f} (target >= 0.50)")


if __name__ == "__main__":
    asyncio.run(main())
