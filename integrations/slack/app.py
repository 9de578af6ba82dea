"""The Slack front end: one async Bolt app, in Socket Mode or HTTP mode.

Every slash command is acked at once and answered through its response URL
once the work is done, so Slack's three seconds are never at risk. A delivery
is claimed in the store before any work, so a retry is acked and dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.config import SlackSettings
from bot.control import Control
from bot.domain import Person
from bot.messages import Reply, refused
from bot.protocols import MessageRef
from bot.store import Store
from handlers.commands import Commands
from integrations.slack.blocks import HOME_BLOCKS, action_name, render
from integrations.slack.chat import SlackChat, make_client
from integrations.slack.home import command_line, home_reply
from integrations.slack.people import SlackPeople, SlackUnavailable

log = logging.getLogger(__name__)

COMMANDS = (
    "joinqueue",
    "leavequeue",
    "pause",
    "unpause",
    "queues",
    "whoison",
    "myqueues",
    "calendar",
    "ccbot",
)
# Slack keeps /help and /me for itself and refuses a manifest that declares
# them, so those two commands have other names here.
NAMES = {"help": "ccbot", "me": "myqueues"}
EVENTS_PATH = "/slack/events"
HOME_DEBOUNCE_SECONDS = 0.2
DELIVERY_DAYS = 2
CLAIMED_IN_MEMORY = 10_000
WORK_SLOTS = 4

# Another handler's buttons (a missed-call "claim" button, say): given the
# person's email, the button value and the message, it may answer privately.
Ack = Callable[..., Awaitable[None]]


class Routes(Protocol):
    """The part of ccbot's web server (integrations/web) Slack needs."""

    def add_route(
        self,
        method: str,
        path: str,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> None: ...

    def add_check(self, name: str, check: Callable[[], bool]) -> None: ...


ActionHandler = Callable[[str, str, MessageRef | None], Awaitable[Reply | None]]


class SlackFrontEnd:
    def __init__(
        self,
        settings: SlackSettings,
        control: Control,
        commands: Commands,
        store: Store,
    ) -> None:
        self.settings = settings
        self.control = control
        self.commands = commands
        self.store = store
        self.client = make_client(
            settings.api_base_url, settings.bot_token(), settings.rate_limit_retries
        )
        self.people = SlackPeople(self.client, store, settings.email_cache_hours)
        self.chat = SlackChat(self.client, self.people)
        self.actions: dict[str, ActionHandler] = {}
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret() or None,
            # The listeners ack and hand off at once (see _register).
            process_before_response=True,
        )
        self._socket: AsyncSocketModeHandler | None = None
        self._connecting: asyncio.Task[None] | None = None
        # Commands worked on at once: a burst queues here, so acks for the
        # rest of the burst are not held up behind everyone's work.
        self._slots = asyncio.Semaphore(WORK_SLOTS)
        self._work: set[asyncio.Task[None]] = set()
        self._home_tasks: dict[str, asyncio.Task[None]] = {}
        self._last: dict[str, str] = {}  # email -> last Home button result
        self._claimed: dict[str, None] = {}  # delivery keys, oldest first
        self._register()

    # wiring

    def _register(self) -> None:
        self.bolt.middleware(self._once)
        # Each listener acks and hands the work to a task of its own, so the
        # HTTP answer (or Socket Mode ack) goes out before any work starts.
        # (Bolt's lazy listeners do the same but deep-copy every request,
        # which costs more than the rest of the ack.)
        names = "|".join(re.escape(name) for name in COMMANDS)
        self.bolt.command(re.compile(f"^/({names})$"))(self._command_received)
        self.bolt.block_action(re.compile(".+"))(self._action_received)
        self.bolt.event("app_home_opened")(self._home_opened_received)
        self.bolt.error(self._on_error)
        self.control.listeners.append(self.state_changed)

    def mount(self, server: Routes) -> None:
        server.add_route("POST", EVENTS_PATH, self.handle_http)
        server.add_check("slack", lambda: True)

    async def start(self) -> None:
        """Connect (Socket Mode) or start answering (HTTP); never raises, so a
        Slack problem leaves the phone side and other front ends running."""
        self._prune_deliveries()
        if self.settings.mode == "http":
            if not self.settings.signing_secret():
                log.error(
                    "Slack HTTP mode: $%s is empty, so every request will be "
                    "refused. Set it to the app's signing secret.",
                    self.settings.signing_secret_env,
                )
            log.info("Slack listening for HTTP requests on %s", EVENTS_PATH)
            return
        if not self.settings.app_token().startswith("xapp-"):
            log.error(
                "Slack Socket Mode needs an app-level token (xapp-…) in $%s; "
                "Slack is off until then. `ccbot doctor` says more.",
                self.settings.app_token_env,
            )
            return
        # The SDK's connect retries a refused token for ever, logging a
        # traceback each time: ask once first, and stay off if it is refused.
        try:
            await self.client.apps_connections_open(app_token=self.settings.app_token())
        except SlackApiError as exc:
            log.error(
                "Slack refused the app-level token (%s); Slack is off. "
                "`ccbot doctor` says more.",
                exc.response.get("error"),
            )
            return
        except (aiohttp.ClientError, SlackRequestError, TimeoutError) as exc:
            # Unreachable now: the SDK keeps trying to connect from here on.
            log.warning(
                "Slack unreachable for Socket Mode yet (%s)", type(exc).__name__
            )
        self._socket = AsyncSocketModeHandler(self.bolt, self.settings.app_token())
        # In the background: while Slack is unreachable the SDK keeps trying,
        # and `ccbot run` must go on serving the phone side meanwhile.
        self._connecting = asyncio.create_task(self._connect(self._socket))

    async def _connect(self, socket: AsyncSocketModeHandler) -> None:
        await socket.connect_async()
        log.info("Slack connected in Socket Mode")

    async def stop(self) -> None:
        if self.state_changed in self.control.listeners:
            self.control.listeners.remove(self.state_changed)
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
            self._connecting = None
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        pending = [*self._home_tasks.values(), *self._work]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def handle_http(self, request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        response = await self.bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    # retried deliveries

    async def _once(
        self,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt passes it by this name
    ) -> BoltResponse:
        key = delivery_key(req.body, req.raw_body)
        if key and not self._claim(key):
            log.info(
                "Slack delivery %s seen before (retry %s): not applied again",
                key[:16],
                (req.headers.get("x-slack-retry-num") or ["-"])[0],
            )
            return BoltResponse(status=200, body="")
        req.context["delivery_key"] = key
        return await next()

    def _claim(self, key: str) -> bool:
        """First sight of this delivery? Memory first, then the store.

        The key is written to the store only when the work starts (`_begin`),
        which keeps a disk write out of the ack; a delivery whose work never
        started is rightly applied if Slack retries it after a restart.
        """
        if key in self._claimed:
            return False
        row = self.store.db.execute(
            "SELECT 1 FROM slack_deliveries WHERE key = ?", [key]
        ).fetchone()
        if row is not None:
            return False
        self._claimed[key] = None
        if len(self._claimed) > CLAIMED_IN_MEMORY:
            del self._claimed[next(iter(self._claimed))]
        return True

    def _begin(self, key: str) -> None:
        if not key:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.store.db.conn:
            self.store.db.execute(
                "INSERT OR IGNORE INTO slack_deliveries (key, received) VALUES (?, ?)",
                [key, now],
            )

    def _prune_deliveries(self) -> None:
        cutoff = datetime.now(UTC) - timedelta(days=DELIVERY_DAYS)
        with self.store.db.conn:
            self.store.db.execute(
                "DELETE FROM slack_deliveries WHERE received < ?",
                [cutoff.isoformat(timespec="seconds")],
            )

    # slash commands

    async def _command_received(
        self, ack: Ack, body: dict[str, Any], respond: Any, context: Any
    ) -> None:
        await ack()
        self._spawn(self._on_command(body, respond, context.get("delivery_key", "")))

    async def _action_received(
        self, ack: Ack, body: dict[str, Any], respond: Any, context: Any
    ) -> None:
        await ack()
        self._spawn(self._on_action(body, respond, context.get("delivery_key", "")))

    async def _home_opened_received(
        self, ack: Ack, event: dict[str, Any], context: Any
    ) -> None:
        await ack()
        self._spawn(self._on_home_opened(event, context.get("delivery_key", "")))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._work.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "Slack work failed: %s",
                type(task.exception()).__name__,
                exc_info=task.exception(),
            )

    async def _on_command(self, body: dict[str, Any], respond: Any, key: str) -> None:
        self._begin(key)
        async with self._slots:
            reply = await self.run_command(
                body.get("user_id", ""), body.get("command", ""), body.get("text", "")
            )
        try:
            await respond(
                response_type="in_channel"
                if reply.public and reply.ok
                else "ephemeral",
                **render(reply).message(),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "reply to %s from %s lost: response URL unreachable (%s)",
                body.get("command"),
                body.get("user_id"),
                type(exc).__name__,
            )

    async def run_command(self, user_id: str, command: str, text: str) -> Reply:
        """One slash command from a Slack user, answered as the core answers."""
        try:
            person = await self.people.person_for(user_id)
            if person is None:
                return self._stranger()
            line, unknown = await self.people.decode(text)
            if unknown:
                return refused(
                    f"I can't find {' and '.join(unknown)} in ccbot's people list. "
                    f"Ask {self.settings.admin_contact} to add them."
                )
            return await self.commands.handle(
                person.email, f"{command} {line}", names=NAMES
            )
        except SlackUnavailable:
            log.warning(
                "%s from %s: Slack unreachable to look them up", command, user_id
            )
            return refused(
                "I couldn't reach Slack to check who you are, so nothing was "
                "changed. Try again in a minute."
            )
        except Exception:
            log.exception("%s from %s failed", command, user_id)
            return refused(
                "Something went wrong on my side and nothing was changed. "
                f"Try again in a minute, or tell {self.settings.admin_contact}."
            )

    def _stranger(self) -> Reply:
        return refused(
            "You're not in ccbot's people list yet, so I can't act for you. "
            f"Ask {self.settings.admin_contact} to add you (with the email on "
            "your Slack profile)."
        )

    # buttons

    async def _on_action(self, body: dict[str, Any], respond: Any, key: str) -> None:
        self._begin(key)
        user_id = (body.get("user") or {}).get("id", "")
        for action in body.get("actions") or []:
            name = action_name(str(action.get("action_id", "")))
            value = str(action.get("value") or "")
            if name.startswith("home."):
                await self._home_action(user_id, name, value)
            elif name in self.actions:
                reply = await self._other_action(user_id, name, value, body)
                if reply is not None and body.get("response_url"):
                    await respond(response_type="ephemeral", **render(reply).message())
            else:
                log.warning("button %s from %s has no handler", name, user_id)

    async def _home_action(self, user_id: str, name: str, value: str) -> None:
        try:
            person = await self.people.person_for(user_id)
        except SlackUnavailable:
            log.warning("Home button from %s dropped: Slack unreachable", user_id)
            return
        if person is None:
            return
        line = command_line(name, value, set(self.control.config.queues))
        if line is None:
            log.warning("Home button %s=%r from %s refused", name, value, user_id)
            return
        command, _, text = line.partition(" ")
        reply = await self.run_command(user_id, command, text)
        self._last[person.email] = reply.text
        # The core's listener already queued a publish; this one carries the
        # result line, so it replaces it.
        queued = self._home_tasks.pop(person.email, None)
        if queued is not None:
            queued.cancel()
        await self.publish_home(person, user_id)

    async def _other_action(
        self, user_id: str, name: str, value: str, body: dict[str, Any]
    ) -> Reply | None:
        try:
            person = await self.people.person_for(user_id)
        except SlackUnavailable:
            return refused("I couldn't reach Slack to check who you are. Try again.")
        if person is None:
            return self._stranger()
        container = body.get("container") or {}
        ref = (
            MessageRef(f"slack:{container['channel_id']}", container["message_ts"])
            if container.get("message_ts") and container.get("channel_id")
            else None
        )
        try:
            return await self.actions[name](person.email, value, ref)
        except Exception:
            log.exception("button %s from %s failed", name, person.email)
            return refused("Something went wrong on my side. Try again in a minute.")

    # App Home

    async def _on_home_opened(self, event: dict[str, Any], key: str) -> None:
        self._begin(key)
        if event.get("tab", "home") != "home":
            return
        user_id = event.get("user", "")
        try:
            person = await self.people.person_for(user_id)
        except SlackUnavailable:
            log.warning("Home tab of %s not published: Slack unreachable", user_id)
            return
        if person is None:
            await self._publish(user_id, self._stranger())
            return
        await self.publish_home(person, user_id)

    async def state_changed(self, email: str) -> None:
        """Control listener: republish the Home tab, without holding up the core."""
        person = self.control.find_person(email)
        if person is None:
            return
        running = self._home_tasks.get(email)
        if running is not None and not running.done():
            running.cancel()
        task = asyncio.create_task(self._publish_soon(person))
        self._home_tasks[email] = task

    async def _publish_soon(self, person: Person) -> None:
        # A burst of changes (join, then pause) publishes once, after replies.
        await asyncio.sleep(HOME_DEBOUNCE_SECONDS)
        await self.publish_home(person)

    async def publish_home(self, person: Person, user_id: str = "") -> None:
        user_id = user_id or await self.people.user_for(person)
        if not user_id:
            return
        reply = home_reply(self.control, person, self._last.get(person.email, ""))
        await self._publish(user_id, reply)

    async def _publish(self, user_id: str, reply: Reply) -> None:
        view = {"type": "home", "blocks": render(reply, HOME_BLOCKS).blocks}
        await self.chat.call(
            f"slack:{user_id}", "views_publish", user_id=user_id, view=view
        )

    # errors

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error(
            "Slack request %s failed: %s",
            body.get("type") or body.get("command"),
            type(error).__name__,
        )


def delivery_key(body: dict[str, Any], raw: str) -> str:
    """What stays the same when Slack delivers one request again."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    if body.get("type") == "url_verification" or body.get("ssl_check"):
        return ""
    if body.get("trigger_id"):
        return f"trigger:{body['trigger_id']}"
    return "body:" + hashlib.sha256(raw.encode()).hexdigest() if raw else ""
