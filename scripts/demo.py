"""The demo: a real Asterisk, ccbot on the sample config, a short conversation.

Run through scripts/demo, which sets up .venv first. Each step prints what a
person typed, ccbot's reply, and Asterisk's own `queue show` right after it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.asterisk import Sandbox, SandboxUnavailable  # noqa: E402

WORK = ROOT / "demo-run"
PORT = int(os.environ.get("CCBOT_DEMO_PORT", "5038"))
DANA, FOX, WALTER, SAM = (
    "dana@example.com",
    "fox@example.com",
    "walter@example.com",
    "sam@example.com",
)
STEPS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("Dana joins her default queues", DANA, "/joinqueue", ("sales", "support")),
    ("Fox takes sales calls for an hour", FOX, "/joinqueue sales for 1h", ("sales",)),
    ("Dana pauses for lunch", DANA, "/pause lunch for 30m", ("sales", "support")),
    ("Walter, a manager, looks at every queue", WALTER, "/queues", ()),
    ("Walter pauses Fox for coaching", WALTER, f"/pause {FOX} coaching", ("sales",)),
    ("Dana checks her own state", DANA, "/me", ()),
    ("Dana is back", DANA, "/unpause", ("sales", "support")),
    ("A typo gets a clear answer", DANA, "/joinqueue salse", ()),
    ("A static member can't leave over AMI", SAM, "/leavequeue support", ()),
    ("Fox leaves", FOX, "/leavequeue", ("sales",)),
]
BAR = "━" * 78


def ccbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(WORK / "ccbot.toml"), *args],
        capture_output=True,
        text=True,
        env=os.environ,
    )


def prepare() -> None:
    WORK.mkdir(exist_ok=True)
    for name in ("ccbot.toml", "people.csv"):
        text = (ROOT / "examples" / name).read_text()
        (WORK / name).write_text(text.replace("port = 5038", f"port = {PORT}"))
    for stale in WORK.glob("ccbot.db*"):
        stale.unlink()
    os.environ["CCBOT_AMI_SECRET"] = "sandbox-secret"
    result = ccbot("people", "import")
    print(result.stdout.strip() or result.stderr.strip())


def queue_show(sandbox: Sandbox, queue: str) -> str:
    lines = sandbox.queue_show(queue).strip().splitlines()
    return "\n".join(f"    {line.strip()}" for line in lines if line.strip())


def main() -> int:
    sandbox = Sandbox(name="demo", ami_port=PORT)
    print(f"{BAR}\nStarting a real Asterisk (Debian's package, in a chroot)…")
    try:
        sandbox.start(fresh=True)
        sandbox.restart()  # an empty start: no members left from an earlier demo
    except SandboxUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    prepare()

    log = (WORK / "ccbot.log").open("w")
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(WORK / "ccbot.toml"),
            "-v",
            "run",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ,
    )
    time.sleep(1.5)
    try:
        for title, who, text, queues in STEPS:
            print(f"\n{BAR}\n{title}\n\n  {who} $ {text}")
            result = ccbot("say", "--as", who, text)
            reply = (result.stdout or result.stderr).rstrip()
            print("\n".join(f"  │ {line}" for line in reply.splitlines()))
            print(f"  (exit status {result.returncode})")
            for queue in queues:
                shown = queue_show(sandbox, queue)
                print(f"\n  asterisk*CLI> queue show {queue}\n{shown}")
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=10)
    print(
        f"\n{BAR}\nThe sandbox Asterisk is still running (AMI on 127.0.0.1:{PORT}).\n"
        f"  Chat yourself:  .venv/bin/ccbot --config {WORK.name}/ccbot.toml "
        f"chat --as {DANA}\n"
        f"  (first: export CCBOT_AMI_SECRET=sandbox-secret)\n"
        f"  ccbot's log:    {WORK.name}/ccbot.log\n"
        f"  Stop Asterisk:  .venv/bin/python -m sandbox.asterisk stop --name demo"
    )
    shutil.copy(ROOT / "examples" / "people.csv", WORK / "people.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
