"""Cold reconcile: 500 people x 5 queues into an empty, real Asterisk.

Measures ccbot's reconcile (snapshot, decisions, pipelined QueueAdds, store)
against a bare loop that pipelines the same QueueAdd actions through
panoramisk, on the sandbox Asterisk, restarted empty before each run.
Target: ccbot within 2x of the bare loop.

    .venv/bin/python bench/cold_reconcile.py [--people 500] [--rounds 3]
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

from bot import config as config_module
from bot.domain import Membership
from sandbox.asterisk import Sandbox

QUEUES = ("sales", "support", "billing", "renewals", "onboarding")
PORT = 15510


def interface(n: int) -> str:
    return f"Local/{20000 + n}@agents/n"


async def bare(sandbox: Sandbox, people: int) -> float:
    manager = Manager(
        host="127.0.0.1",
        port=sandbox.ami_port,
        username=sandbox.ami_username,
        secret=sandbox.ami_secret,
        events="off",
        loop=asyncio.get_running_loop(),
    )
    manager.connect()
    while not manager.authenticated:  # noqa: ASYNC110 - panoramisk has no login event
        await asyncio.sleep(0.01)
    began = time.perf_counter()
    futures = [
        manager.send_action(
            {
                "Action": "QueueAdd",
                "Queue": queue,
                "Interface": interface(n),
                "MemberName": f"Agent {n}",
                "Paused": "false",
            },
            as_list=False,
        )
        for n in range(people)
        for queue in QUEUES
    ]
    responses = await asyncio.gather(*futures)
    took = time.perf_counter() - began
    manager.close()
    assert all(r.success for r in responses), "bare loop: some QueueAdd failed"
    return took


async def ccbot(sandbox: Sandbox, people: int, workdir: Path) -> float:
    from bot.app import App
    from bot.people import import_csv
    from bot.store import Store

    rows = "".join(
        f"agent{n}@bench.test,Agent {n},{interface(n)},{';'.join(QUEUES)}\n"
        for n in range(people)
    )
    (workdir / "people.csv").write_text("email,name,interface,queues\n" + rows)
    queues = "".join(f'[[queue]]\nname = "{q}"\n' for q in QUEUES)
    (workdir / "ccbot.toml").write_text(
        f"""
[store]
path = "bench.db"
[[pbx]]
name = "main"
port = {sandbox.ami_port}
username = "{sandbox.ami_username}"
secret_env = "BENCH_AMI_SECRET"
action_timeout = 30
{queues}
[people]
csv = "people.csv"
"""
    )
    os.environ["BENCH_AMI_SECRET"] = sandbox.ami_secret
    config = config_module.load(str(workdir / "ccbot.toml"))
    store = Store(config.store_path)
    import_csv(config.people_csv, store, config.settings.people, config.queues)
    now = time.time()
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(now, UTC)
    with store.transaction():
        for person in store.people():
            for queue in QUEUES:
                store.set_membership(Membership(person.email, queue), stamp)
    store.close()

    app = App(config)
    app.pbxes["main"].on_ready = None  # the timed reconcile below is the first
    await app.pbxes["main"].start(wait=10)
    began = time.perf_counter()
    report = await app.control.reconcile("main")
    took = time.perf_counter() - began
    await app.close()
    expected = people * len(QUEUES)
    assert report.actions == expected and report.failed == 0, report
    return took


def count_members(sandbox: Sandbox) -> int:
    return sandbox.queue_show().count("@agents/n) (ringinuse")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sandbox = Sandbox(name="bench", ami_port=PORT, queues=QUEUES)
    sandbox.start(fresh=True)
    actions = args.people * len(QUEUES)
    bare_times, ccbot_times = [], []
    try:
        for _ in range(args.rounds):
            sandbox.restart()
            bare_times.append(await bare(sandbox, args.people))
            sandbox.restart()
            with tempfile.TemporaryDirectory() as tmp:
                ccbot_times.append(await ccbot(sandbox, args.people, Path(tmp)))
            members = sandbox.queue_show().count("Agent ")
            assert members >= actions, f"only {members} members in Asterisk"
    finally:
        sandbox.stop()
    best_bare, best_ccbot = min(bare_times), min(ccbot_times)
    print(f"{args.people} people x {len(QUEUES)} queues = {actions} QueueAdd actions")
    print(f"bare pipelined loop : {best_bare:6.2f} s ({actions / best_bare:,.0f}/s)")
    print(f"ccbot reconcile     : {best_ccbot:6.2f} s ({actions / best_ccbot:,.0f}/s)")
    print(f"ratio               : {best_ccbot / best_bare:.2f}x (target <= 2x)")


if __name__ == "__main__":
    asyncio.run(main())
