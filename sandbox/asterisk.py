"""A real Asterisk in a Debian sid chroot, for ccbot's tests and demo.

The chroot is built once with debootstrap and cached; each named instance gets
its own config, database, spool and log directories inside it, so the demo and
the test suite can run side by side on different AMI ports.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/var/cache/ccbot/asterisk-sid")
SUITE = "sid"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("asterisk", "asterisk-modules")
ASTERISK = "/usr/sbin/asterisk"

# autoload=no keeps start-up well under a second; this is everything the test
# dialplan and queues touch. Local channels are built into the core.
MODULES = (
    "res_timing_timerfd.so",
    "bridge_simple.so",
    "bridge_builtin_features.so",
    "pbx_config.so",
    "app_queue.so",
    "app_dial.so",
    "app_verbose.so",
    "app_exec.so",
    "func_devstate.so",
    "func_logic.so",
    "func_strings.so",
    "func_callerid.so",
    "func_channel.so",
)

QUEUES = ("sales", "support", "billing")
ANSWERING_AGENTS = tuple(str(n) for n in range(2001, 2011))
SILENT_AGENTS = tuple(str(n) for n in range(3001, 3011))
STATIC_AGENT = "9000"
STATIC_MEMBER = f"Local/{STATIC_AGENT}@agents/n,0,Static Sam,hint:{STATIC_AGENT}@agents"

OWN_ASTERISK_HINT = """\
To use your own Asterisk instead, give ccbot an AMI user on it and point a
[[pbx]] entry of ccbot.toml at it, for example:

    [[pbx]]
    name = "main"
    host = "127.0.0.1"        # where AMI listens
    port = 5038
    username = "ccbot"        # a manager.conf user with read/write = all
    secret_env = "CCBOT_AMI_SECRET"  # the environment variable holding its secret
"""


class SandboxUnavailable(RuntimeError):
    """This machine cannot build or run the sandbox Asterisk."""


@dataclass
class Sandbox:
    """One Asterisk instance living in the shared chroot at ``root``."""

    name: str = "default"
    ami_port: int = 5038
    root: Path = field(
        default_factory=lambda: Path(
            os.environ.get("CCBOT_SANDBOX_ROOT", str(DEFAULT_ROOT))
        )
    )
    ami_username: str = "ccbot"
    ami_secret: str = "sandbox-secret"
    queues: tuple[str, ...] = QUEUES
    _process: subprocess.Popen[bytes] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    # Paths: "inner" ones are as Asterisk sees them inside the chroot.

    @property
    def inner_home(self) -> str:
        return f"/srv/ccbot/{self.name}"

    @property
    def home(self) -> Path:
        return self.root / self.inner_home.lstrip("/")

    @property
    def inner_config(self) -> str:
        return f"{self.inner_home}/etc/asterisk.conf"

    @property
    def log_file(self) -> Path:
        """Asterisk's own stdout and stderr; the logger writes log/messages."""
        return self.home / "log" / "console.log"

    @property
    def _pid_file(self) -> Path:
        return self.home / "sandbox.pid"

    # Building the chroot.

    def build(self) -> Path:
        """Build the chroot unless it is cached; return its path."""
        if _is_built(self.root):
            return self.root

        _require_root("build the sandbox Asterisk")
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.root.with_name(self.root.name + ".lock")):
            # Another process may have finished the build while we waited.
            if not _is_built(self.root):
                _debootstrap(self.root)
        return self.root

    # Running an instance.

    def start(self, timeout: float = 30, fresh: bool = False) -> None:
        """Write the configs, start Asterisk and wait until AMI accepts a login.

        ``fresh`` also deletes the instance's astdb, which otherwise survives
        restarts (queue members do not: persistentmembers is off).
        """
        if self.running() and self._configured_port() == self.ami_port:
            log.info("sandbox %s is already running", self.name)
            self._wait_for_ami(timeout)
            return
        if self.running():
            log.info("sandbox %s runs on another port, restarting it", self.name)
            self.stop()

        _require_root("run the sandbox Asterisk")
        self.build()
        _mount_proc(self.root)
        self._write_configs(fresh)
        if _port_open(self.ami_port):
            raise SandboxUnavailable(
                f"port {self.ami_port} already accepts connections; stop whatever "
                f"listens there or start sandbox {self.name!r} on another --port"
            )

        began = time.monotonic()
        self._spawn()
        self._wait_for_ami(timeout)
        log.info(
            "sandbox %s booted in %.2f s, AMI on 127.0.0.1:%s",
            self.name,
            time.monotonic() - began,
            self.ami_port,
        )

    def stop(self, timeout: float = 10) -> None:
        """Stop Asterisk cleanly, killing it if it does not exit in time."""
        pid = self._pid()
        if pid is None:
            return

        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.cli("core stop now", timeout=timeout)
        if not self._wait_for_exit(pid, timeout):
            log.warning(
                "sandbox %s ignored 'core stop now', sending SIGTERM", self.name
            )
            _signal(pid, signal.SIGTERM)
        if not self._wait_for_exit(pid, 5):
            log.warning("sandbox %s ignored SIGTERM, sending SIGKILL", self.name)
            _signal(pid, signal.SIGKILL)
            self._wait_for_exit(pid, 5)

        self._pid_file.unlink(missing_ok=True)
        self._process = None
        log.info("sandbox %s stopped", self.name)

    def restart(self, timeout: float = 30) -> None:
        self.stop()
        self.start(timeout)

    def running(self) -> bool:
        return self._pid() is not None

    def cli(self, command: str, timeout: float = 15) -> str:
        """Run one Asterisk CLI command in this instance and return its output."""
        result = subprocess.run(
            [
                "chroot",
                str(self.root),
                ASTERISK,
                "-C",
                self.inner_config,
                "-rx",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"asterisk -rx {command!r} failed in sandbox {self.name}: "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result.stdout

    def queue_show(self, queue: str | None = None) -> str:
        return self.cli(f"queue show {queue}" if queue else "queue show")

    # Internals.

    def _spawn(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            # Not "-U root": dropping to a user, even root, sheds capabilities
            # Asterisk needs to write its own database.
            self._process = subprocess.Popen(
                ["chroot", str(self.root), ASTERISK, "-f", "-C", self.inner_config],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pid_file.write_text(f"{self._process.pid}\n")

    def _pid(self) -> int | None:
        """The live Asterisk of this instance, if any (ours or a prior process's)."""
        if self._process is not None and self._process.poll() is not None:
            self._process = None
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(self._pid_file.read_text())
            if _is_our_asterisk(pid, self.inner_config):
                return pid

        # The pid file can be stale or gone while the daemon still runs.
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _is_our_asterisk(
                int(entry.name), self.inner_config
            ):
                return int(entry.name)
        return None

    def _exited(self) -> bool:
        """Whether the Asterisk being started has died.

        The child we spawned is asked directly: while chroot execs asterisk,
        /proc briefly shows no command line, and judging by /proc then made a
        healthy start look like an exit.
        """
        if self._process is not None:
            return self._process.poll() is not None
        return not self.running()

    def _configured_port(self) -> int | None:
        """The AMI port the instance's current manager.conf names."""
        with contextlib.suppress(OSError):
            for line in (self.home / "etc" / "manager.conf").read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "port":
                    return int(value)
        return None

    def _wait_for_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(0.05)
            if not _is_our_asterisk(pid, self.inner_config):
                return True
            time.sleep(0.05)
        return False

    def _wait_for_ami(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._exited():
                raise SandboxUnavailable(
                    f"sandbox Asterisk {self.name!r} exited during start-up; "
                    f"its output is in {self.log_file}:\n{_tail(self.log_file)}"
                )
            with contextlib.suppress(OSError):
                if ami_login(self.ami_port, self.ami_username, self.ami_secret):
                    return
            if time.monotonic() > deadline:
                raise SandboxUnavailable(
                    f"sandbox Asterisk {self.name!r} did not accept an AMI login on "
                    f"port {self.ami_port} within {timeout:.0f} s; see {self.log_file}"
                )
            time.sleep(0.1)

    def _write_configs(self, fresh: bool) -> None:
        for sub in ("etc", "lib", "spool", "run", "log", "cache"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        if fresh:
            for db in (self.home / "lib").glob("astdb*"):
                db.unlink()

        for filename, text in self._configs().items():
            (self.home / "etc" / filename).write_text(text)

    def _configs(self) -> dict[str, str]:
        return {
            "asterisk.conf": self._asterisk_conf(),
            "modules.conf": _modules_conf(),
            "logger.conf": _LOGGER_CONF,
            "cdr.conf": _CDR_CONF,
            "indications.conf": _INDICATIONS_CONF,
            # Present but empty, so the core does not log errors for them.
            **{name: "" for name in _EMPTY_CONFIGS},
            "manager.conf": self._manager_conf(),
            "queues.conf": _queues_conf(self.queues),
            "extensions.conf": _extensions_conf(),
        }

    def _asterisk_conf(self) -> str:
        home = self.inner_home
        return f"""\
[directories]
astetcdir => {home}/etc
astmoddir => {_module_dir(self.root)}
astvarlibdir => {home}/lib
astdbdir => {home}/lib
astkeydir => {home}/lib
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {home}/spool
astrundir => {home}/run
astlogdir => {home}/log
astcachedir => {home}/cache
astsbindir => /usr/sbin

[options]
verbose = 3
; Plain text from "asterisk -rx", so tests can match it.
nocolor = yes
"""

    def _manager_conf(self) -> str:
        return f"""\
[general]
enabled = yes
webenabled = no
bindaddr = 127.0.0.1
port = {self.ami_port}
displayconnects = no

[{self.ami_username}]
secret = {self.ami_secret}
read = all
write = all
"""


def _modules_conf() -> str:
    loads = "\n".join(f"load => {module}" for module in MODULES)
    return f"[modules]\nautoload = no\n{loads}\n"


_LOGGER_CONF = """\
[general]

[logfiles]
messages => notice,warning,error,verbose
"""

_CDR_CONF = """\
[general]
enable = no
"""

_INDICATIONS_CONF = """\
[general]
country = us

[us]
description = United States
ringcadence = 2000,4000
dial = 350+440
busy = 480+620/500,0/500
ring = 440+480/2000,0/4000
congestion = 480+620/250,0/250
"""

_EMPTY_CONFIGS = (
    "acl.conf",
    "ccss.conf",
    "cel.conf",
    "features.conf",
    "queuerules.conf",
    "udptl.conf",
)


def _queues_conf(names: tuple[str, ...]) -> str:
    queues = "\n".join(f"[{queue}](ccbot-queue)" for queue in names)
    return f"""\
[general]
; ccbot restores dynamic members itself after a restart.
persistentmembers = no

[ccbot-queue](!)
strategy = ringall
timeout = 5
retry = 1
wrapuptime = 0
ringinuse = no
autopause = no
joinempty = yes
leavewhenempty = no
servicelevel = 20
announce-frequency = 0
periodic-announce-frequency = 0
announce-position = no
announce-holdtime = no
setinterfacevar = yes

{queues}

[support](+)
member => {STATIC_MEMBER}
"""


def _extensions_conf() -> str:
    agents = (*ANSWERING_AGENTS, *SILENT_AGENTS, STATIC_AGENT)
    # Custom: lets a test mark an agent busy; the Local parts turn the hint
    # InUse while the agent is on a call, whichever route rang them.
    hints = "\n".join(
        f"exten => {agent},hint,Custom:{agent}"
        f"&Local/{agent}@agents&Local/{agent}@from-queue"
        for agent in agents
    )
    return f"""\
[general]
static = yes
writeprotect = yes

[globals]
; Seconds an answering agent stays on the call; a caller can change it for
; its own call with the inheritable __TALK variable.
TALK = 30

[agents]
include => agents-dial
{hints}

[agents-dial]
{_answering_agent("_2XXX")}
{_answering_agent(STATIC_AGENT)}
exten => _3XXX,1,NoOp(agent ${{EXTEN}} never answers)
 same => n,Ringing()
 same => n,Wait(600)
 same => n,Hangup()

[from-queue]
include => agents

[ext-local]
{hints}

[queue-entry]
; Answer first so the originating ;1 leg is up and its Wait() measures the
; caller's patience while this ;2 leg waits in the queue.
exten => _[a-z].,1,NoOp(${{CALLERID(all)}} joins ${{EXTEN}}, QTIMEOUT=${{QTIMEOUT}})
 same => n,Answer()
 same => n,Queue(${{EXTEN}},r,,,${{IF($["${{QTIMEOUT}}" = ""]?300:${{QTIMEOUT}})}})
 same => n,NoOp(left ${{EXTEN}} with QUEUESTATUS=${{QUEUESTATUS}})
 same => n,Hangup()
"""


def _answering_agent(extension: str) -> str:
    return f"""\
exten => {extension},1,NoOp(agent ${{EXTEN}} answers, talks ${{TALK}} s)
 same => n,Answer()
 same => n,Wait(${{TALK}})
 same => n,Hangup()
"""


def ami_login(port: int, username: str, secret: str, timeout: float = 2) -> bool:
    """Log in over AMI; true once Asterisk says it is fully booted."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            (
                f"Action: Login\r\nUsername: {username}\r\nSecret: {secret}\r\n\r\n"
            ).encode()
        )
        received = b""
        deadline = time.monotonic() + timeout
        while b"Event: FullyBooted" not in received:
            if b"Response: Error" in received or time.monotonic() > deadline:
                return False
            chunk = sock.recv(4096)
            if not chunk:
                return False
            received += chunk
        sock.sendall(b"Action: Logoff\r\n\r\n")
        return True


def _module_dir(root: Path) -> str:
    """Where Debian put the modules: the path names the machine's multiarch."""
    for found in sorted(root.glob("usr/lib/*/asterisk/modules")):
        return "/" + str(found.relative_to(root))
    return "/usr/lib/asterisk/modules"


def _is_built(root: Path) -> bool:
    return (root / ASTERISK.lstrip("/")).exists()


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            f"cannot {what}: it needs root (debootstrap, mount and chroot).\n"
            + OWN_ASTERISK_HINT
        )


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _debootstrap(root: Path) -> None:
    """Build into a scratch tree and rename it, so a half build is never used."""
    if root.exists() and any(root.iterdir()):
        raise SandboxUnavailable(
            f"{root} exists but holds no Asterisk; remove it or set "
            "CCBOT_SANDBOX_ROOT to another directory"
        )

    debootstrap = _ensure_debootstrap()
    scratch = root.with_name(root.name + ".tmp")
    _remove_tree(scratch)
    build_log = root.with_name(root.name + ".build.log")
    mirror = os.environ.get("CCBOT_SANDBOX_MIRROR", DEFAULT_MIRROR)

    log.info("building Asterisk chroot in %s (about a minute)", root)
    began = time.monotonic()
    with build_log.open("wb") as out:
        result = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(scratch),
                mirror,
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise SandboxUnavailable(
            f"debootstrap failed (exit {result.returncode}); see {build_log}:\n"
            f"{_tail(build_log)}\n" + OWN_ASTERISK_HINT
        )

    os.rename(scratch, root)
    log.info("built Asterisk chroot %s in %.0f s", root, time.monotonic() - began)


def _ensure_debootstrap() -> str:
    found = shutil.which("debootstrap")
    if found:
        return found

    log.info("installing debootstrap with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "debootstrap"],
    ):
        try:
            subprocess.run(command, check=True, env=env, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SandboxUnavailable(
                f"debootstrap is missing and {' '.join(command)!r} failed: {exc}\n"
                + OWN_ASTERISK_HINT
            ) from exc
    found = shutil.which("debootstrap")
    if not found:
        raise SandboxUnavailable("apt-get installed debootstrap but it is not on PATH")
    return found


def _remove_tree(path: Path) -> None:
    """Remove a stale scratch build, first unmounting what a crashed one left."""
    if not path.exists():
        return
    for mount in sorted(_mounts_under(path), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def _mount_proc(root: Path) -> None:
    proc = root / "proc"
    if str(proc.resolve()) in _mounts_under(proc):
        return
    result = subprocess.run(
        ["mount", "-t", "proc", "proc", str(proc)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SandboxUnavailable(
            f"cannot mount /proc in {root} ({result.stderr.strip()}); this machine "
            "does not allow the mounts the sandbox needs.\n" + OWN_ASTERISK_HINT
        )


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _is_our_asterisk(pid: int, config: str) -> bool:
    """Alive, not a zombie, and the daemon (-f) of this instance's config file.

    "asterisk -rx" clients name the same config, but never -f.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and b"-f" in cmdline and config.encode() in cmdline


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.asterisk",
        description="Build and run the sandbox Asterisk ccbot's tests and demo use.",
    )
    parser.add_argument(
        "command", choices=("build", "start", "stop", "restart", "status", "cli")
    )
    parser.add_argument("args", nargs="*", help="for cli: the Asterisk CLI command")
    parser.add_argument("--name", default="default", help="instance name")
    parser.add_argument("--port", type=int, default=5038, help="AMI port")
    parser.add_argument(
        "--fresh", action="store_true", help="start: forget the instance's astdb"
    )
    options = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    sandbox = Sandbox(name=options.name, ami_port=options.port)
    try:
        return _run_command(sandbox, options.command, options.args, options.fresh)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1


def _run_command(sandbox: Sandbox, command: str, args: list[str], fresh: bool) -> int:
    if command == "build":
        began = time.monotonic()
        root = sandbox.build()
        print(f"Asterisk chroot ready at {root} ({time.monotonic() - began:.1f} s)")
    elif command in ("start", "restart"):
        began = time.monotonic()
        if command == "restart":
            sandbox.stop()
        sandbox.start(fresh=fresh)
        print(
            f"Asterisk {sandbox.name!r} up in {time.monotonic() - began:.2f} s; "
            f"AMI listens on 127.0.0.1:{sandbox.ami_port} "
            f"(user {sandbox.ami_username}, secret {sandbox.ami_secret})"
        )
    elif command == "stop":
        sandbox.stop()
        print(f"Asterisk {sandbox.name!r} stopped")
    elif command == "status":
        if not sandbox.running():
            print(f"Asterisk {sandbox.name!r} is stopped")
            return 3
        port = sandbox._configured_port() or sandbox.ami_port
        print(f"Asterisk {sandbox.name!r} is running; AMI on 127.0.0.1:{port}")
    elif command == "cli":
        if not args:
            print(
                "sandbox: cli needs a command, e.g. cli 'queue show'", file=sys.stderr
            )
            return 2
        print(sandbox.cli(" ".join(args)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
