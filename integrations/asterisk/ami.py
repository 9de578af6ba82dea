"""Asterisk over AMI, through panoramisk: login, reconnect, actions, events."""

from __future__ import annotations

import asyncio
import codecs
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from bot.config import PbxSettings
from bot.domain import Member, PbxSnapshot
from bot.errors import LoginRefused, PbxUnavailable
from bot.protocols import Action
from integrations.asterisk import mapping

log = logging.getLogger(__name__)

MemberHandler = Callable[[str, str, Member | None], Awaitable[None]]
EventHandler = Callable[[Message], None]
ReadyHandler = Callable[[], Awaitable[None]]


class Utf8Protocol(AMIProtocol):
    """panoramisk's protocol, fed whole UTF-8 characters only.

    panoramisk 1.4 decodes each TCP read on its own with errors ignored, so a
    caller name whose bytes straddle two reads loses a letter ("Zoë" turns
    "Zo"). An incremental decoder holds a split character for the next read.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def data_received(self, data: bytes) -> None:
        super().data_received(self._decoder.decode(data).encode("utf-8"))


class _Manager(Manager):
    """panoramisk's Manager with capped exponential backoff between attempts.

    panoramisk retries every ``reconnect_timeout`` seconds, forever, at a fixed
    pace; ccbot wants quick first retries that slow down when Asterisk stays
    away, so the delay is raised before each of panoramisk's own retries.
    """

    def __init__(self, owner: AmiPbx, **config: Any) -> None:
        super().__init__(**config)
        self.owner = owner

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.exception() is not None:
            self.reconnect_timeout = self.owner.next_delay()
            self.owner.note_down(f"cannot connect: {f.exception()}")
        super().connection_made(f)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reconnect_timeout = self.owner.next_delay()
        self.owner.note_down("connection lost")
        super().connection_lost(exc)


class AmiPbx:
    """One Asterisk, implementing the core's ``Pbx`` protocol."""

    def __init__(self, settings: PbxSettings, secret: str) -> None:
        self.name = settings.name
        self.settings = settings
        self._secret = secret
        self.on_ready: ReadyHandler | None = None
        self.on_member: MemberHandler | None = None
        self.on_event: EventHandler | None = None
        self.login_error: str | None = None
        self._manager: _Manager | None = None
        self._ready = asyncio.Event()
        self._attempt = 0
        self._down_logged = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._member_events: asyncio.Queue[tuple[str, str, Member | None]] = (
            asyncio.Queue()
        )

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    # connection

    async def start(self, wait: float | None = None) -> bool:
        """Connect in the background; with ``wait``, wait that long for a login."""
        self._manager = _Manager(
            self,
            host=self.settings.host,
            port=self.settings.port,
            username=self.settings.username,
            secret=self._secret,
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=1,
            loop=asyncio.get_running_loop(),
            protocol_factory=Utf8Protocol,
            on_connect=self._on_connect,
            on_login=self._on_login,
            forgetable_actions=(
                "ping",
                "login",
                "queueadd",
                "queueremove",
                "queuepause",
                "queuestatus",
                "corestatus",
            ),
        )
        self._manager.register_event("*", self._dispatch)
        self._spawn(self._member_worker())
        self._manager.connect()
        if wait is None:
            return False
        try:
            await asyncio.wait_for(self._ready.wait(), wait)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self._manager is not None:
            self._manager.reconnect_timeout = 3600
            self._manager.close()
        self._ready.clear()
        for task in list(self._tasks):
            task.cancel()

    def next_delay(self) -> float:
        """Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s … 30 s."""
        self._attempt += 1
        base = min(self.settings.reconnect_max, 0.5 * 2 ** (self._attempt - 1))
        return base * random.uniform(0.8, 1.0)

    def note_down(self, why: str) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        if was_ready or not self._down_logged:
            log.warning("AMI %s at %s: %s; reconnecting", self.name, self.address, why)
            self._down_logged = True

    def _on_connect(self, manager: Manager) -> None:
        future = manager.authenticated_future
        if future is not None:
            future.add_done_callback(self._check_login)

    def _check_login(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        response = future.result()
        if response.success:
            self.login_error = None
            return
        self.login_error = (
            f"AMI login refused for user {self.settings.username!r}: check the "
            f"secret in ${self.settings.secret_env} and manager.conf"
        )
        log.error("AMI %s at %s: %s", self.name, self.address, self.login_error)
        # Asterisk keeps a refused connection open; close it and try later, in
        # case the secret or manager.conf is fixed.
        assert self._manager is not None
        self._manager.close()
        delay = self.next_delay()
        asyncio.get_running_loop().call_later(delay, self._manager.connect)

    def _on_login(self, manager: Manager) -> None:
        log.debug("AMI %s at %s: logged in", self.name, self.address)

    def _fully_booted(self) -> None:
        first = not self._down_logged and self._attempt == 0
        self._attempt = 0
        self._down_logged = False
        self._ready.set()
        log.info(
            "AMI %s at %s: connected%s",
            self.name,
            self.address,
            "" if first else " again",
        )
        if self.on_ready is not None:
            self._spawn(self.on_ready())

    def _dispatch(self, manager: Manager, message: Message) -> None:
        name = message.event.lower()
        if name == "fullybooted":
            self._fully_booted()
            return
        if name in mapping.MEMBER_EVENTS and self.on_member is not None:
            member = (
                None if name == "queuememberremoved" else mapping.member_from(message)
            )
            interface = str(message.get("Interface", ""))
            queue = str(message.get("Queue", ""))
            self._member_events.put_nowait((queue, interface, member))
        if self.on_event is not None:
            self.on_event(message)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _member_worker(self) -> None:
        """Member events in the order Asterisk sent them, one at a time."""
        while True:
            queue, interface, member = await self._member_events.get()
            try:
                if self.on_member is not None:
                    await self.on_member(queue, interface, member)
            except Exception:
                log.exception("%s: member event for %s failed", queue, interface)
            finally:
                self._member_events.task_done()

    async def drain(self) -> None:
        """Wait until every member event received so far has been handled."""
        await self._member_events.join()

    # actions

    async def request(self, fields: dict[str, str], many: bool = False) -> Any:
        manager = self._manager
        if manager is None or not self._ready.is_set():
            if self.login_error:
                raise LoginRefused(self.login_error)
            raise PbxUnavailable(self._unavailable_text())
        future = manager.send_action(fields, as_list=many)
        try:
            return await asyncio.wait_for(future, self.settings.action_timeout)
        except TimeoutError as exc:
            raise PbxUnavailable(
                f"Asterisk {self.name} did not answer {fields['Action']} "
                f"within {self.settings.action_timeout:g} s"
            ) from exc

    def _unavailable_text(self) -> str:
        if self.login_error:
            return self.login_error
        return f"Asterisk {self.name} at {self.address} is not connected"

    async def send(self, action: Action) -> None:
        response = await self.request(mapping.to_ami(action))
        if not response.success:
            raise mapping.refusal(action, str(response.get("Message", "")))

    async def command(self, text: str) -> str:
        """A CLI command, for `ccbot doctor` and the demo."""
        response = await self.request({"Action": "Command", "Command": text})
        output = response.get("Output", "")
        if isinstance(output, list):
            return "\n".join(output)
        return str(output or response.content or "")

    async def snapshot(self) -> PbxSnapshot:
        core = await self.request({"Action": "CoreStatus"})
        if not core.success:
            raise PbxUnavailable(f"CoreStatus failed: {core.get('Message', '')}")
        startup = f"{core.get('CoreStartupDate', '')} {core.get('CoreStartupTime', '')}"
        messages = await self.request({"Action": "QueueStatus"}, many=True)
        if not isinstance(messages, list):
            messages = [messages]
        return PbxSnapshot(self.name, startup.strip(), mapping.snapshot_from(messages))

    async def check_login(self, timeout: float) -> str | None:
        """For `ccbot doctor`: None when logged in, else what is wrong."""
        if await self.start(wait=timeout):
            return None
        if self.login_error:
            return self.login_error
        return (
            f"cannot reach AMI at {self.address} within {timeout:g} s: is Asterisk "
            "running, and manager.conf enabled with this port and bindaddr?"
        )
