"""A stand-in for Slack on 127.0.0.1: the Web API, response URLs, file uploads
and Socket Mode, in Slack's documented wire format.

It records every call, checks Block Kit against Slack's documented limits the
way Slack does (refusing with `invalid_blocks`), and can be told to answer a
method with HTTP 429 + Retry-After or with an error such as `not_in_channel`.
It also builds requests the way Slack builds them (signed slash commands,
button payloads, events) so tests can send them to ccbot.

Reusable by any test: `standin = SlackStandIn(); await standin.start()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-standin-bot-token"
APP_TOKEN = "xapp-standin-app-token"
SIGNING_SECRET = "standin-signing-secret"
TEAM_ID = "T0SHOP"
BOT_USER = "U0CCBOT"
APP_ID = "A0CCBOT"
ALL_SCOPES = (
    "commands",
    "chat:write",
    "im:write",
    "users:read",
    "users:read.email",
    "files:write",
    "channels:read",
    "groups:read",
)

# Slack's documented Block Kit limits, written out here independently of
# ccbot's renderer so a wrong constant there cannot hide in both.
LIMITS = {
    "message_blocks": 50,
    "home_blocks": 100,
    "section_text": 3000,
    "section_fields": 10,
    "field_text": 2000,
    "actions_elements": 25,
    "context_elements": 10,
    "button_text": 75,
    "action_id": 255,
    "button_value": 2000,
    "header_text": 150,
    "block_id": 255,
    "text_object": 3000,
}


def block_problems(blocks: list[dict[str, Any]], surface: str = "message") -> list[str]:
    """Every way these blocks break Slack's documented limits."""
    problems: list[str] = []
    most = LIMITS["home_blocks" if surface == "home" else "message_blocks"]
    if len(blocks) > most:
        problems.append(f"{len(blocks)} blocks, more than {most}")
    action_ids: set[str] = set()
    for index, block in enumerate(blocks):
        problems.extend(
            f"block {index}: {problem}" for problem in _one_block(block, action_ids)
        )
    return problems


def _one_block(block: dict[str, Any], action_ids: set[str]) -> list[str]:
    kind = block.get("type")
    problems = []
    if len(block.get("block_id", "")) > LIMITS["block_id"]:
        problems.append("block_id too long")
    if kind == "section":
        text = block.get("text")
        fields = block.get("fields")
        if not text and not fields:
            problems.append("section with neither text nor fields")
        if text is not None:
            problems.extend(_text_object(text, LIMITS["section_text"]))
        if fields is not None:
            if not 1 <= len(fields) <= LIMITS["section_fields"]:
                problems.append(f"{len(fields)} fields")
            for item in fields:
                problems.extend(_text_object(item, LIMITS["field_text"]))
    elif kind == "context":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= LIMITS["context_elements"]:
            problems.append(f"{len(elements)} context elements")
        for item in elements:
            problems.extend(_text_object(item, LIMITS["text_object"]))
    elif kind == "actions":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= LIMITS["actions_elements"]:
            problems.append(f"{len(elements)} action elements")
        for item in elements:
            problems.extend(_button(item, action_ids))
    elif kind == "header":
        problems.extend(_text_object(block.get("text", {}), LIMITS["header_text"]))
    elif kind != "divider":
        problems.append(f"unexpected block type {kind!r}")
    return problems


def _text_object(item: dict[str, Any], limit: int) -> list[str]:
    if item.get("type") not in ("mrkdwn", "plain_text"):
        return [f"text object of type {item.get('type')!r}"]
    text = item.get("text", "")
    if not text:
        return ["empty text"]
    if len(text) > limit:
        return [f"text of {len(text)} characters, more than {limit}"]
    return []


def _button(item: dict[str, Any], action_ids: set[str]) -> list[str]:
    if item.get("type") != "button":
        return [f"element of type {item.get('type')!r}"]
    problems = []
    label = item.get("text", {})
    if label.get("type") != "plain_text":
        problems.append("button text must be plain_text")
    if not 1 <= len(label.get("text", "")) <= LIMITS["button_text"]:
        problems.append("button text length")
    action_id = item.get("action_id", "")
    if len(action_id) > LIMITS["action_id"]:
        problems.append("action_id too long")
    if action_id in action_ids:
        problems.append(f"action_id {action_id} used twice")
    action_ids.add(action_id)
    if len(item.get("value", "")) > LIMITS["button_value"]:
        problems.append("button value too long")
    if item.get("style") not in (None, "primary", "danger"):
        problems.append("button style")
    return problems


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]


@dataclass
class SlackUser:
    id: str
    email: str
    name: str

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name.split()[0].lower(),
            "real_name": self.name,
            "is_bot": False,
            "profile": {"email": self.email, "real_name": self.name},
        }


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True
    is_private: bool = False


@dataclass
class Fault:
    error: str = ""
    retry_after: int = 0  # > 0: answer HTTP 429 with this Retry-After


@dataclass
class SlackStandIn:
    token: str = BOT_TOKEN
    app_token: str = APP_TOKEN
    scopes: tuple[str, ...] = ALL_SCOPES
    users: dict[str, SlackUser] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    answered_at: dict[str, float] = field(default_factory=dict)  # monotonic
    base_url: str = ""
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _acks: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    # running

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = int(self._runner.addresses[0][1])
        self.base_url = f"http://127.0.0.1:{port}"
        return self.api_url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        for recorded in (self.calls, self.responses, self.messages, self.views):
            recorded.clear()
        self.uploads.clear()
        self.faults.clear()

    # what tests set up and look at

    def add_user(self, user_id: str, email: str, name: str) -> SlackUser:
        self.users[user_id] = SlackUser(user_id, email, name)
        return self.users[user_id]

    def add_channel(self, channel_id: str, name: str, is_member: bool = True) -> None:
        self.channels[channel_id] = Channel(channel_id, name, is_member)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        self.faults.setdefault(method, []).extend(
            Fault(error=error) for _ in range(times)
        )

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        self.faults.setdefault(method, []).extend(
            Fault(retry_after=retry_after) for _ in range(times)
        )

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def response_url(self) -> str:
        key = uuid.uuid4().hex
        self.responses[key] = []
        return f"{self.base_url}/response/{key}"

    def responses_at(self, url: str) -> list[dict[str, Any]]:
        return self.responses.get(url.rsplit("/", 1)[1], [])

    # the Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        headers = dict(request.headers)
        self.calls.append(Call(method, args, headers))

        faults = self.faults.get(method)
        if faults:
            fault = faults.pop(0)
            if fault.retry_after:
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(fault.retry_after)},
                )
            return web.json_response({"ok": False, "error": fault.error})

        token = headers.get("Authorization", "").removeprefix("Bearer ")
        token = token or str(args.get("token", ""))
        wanted = self.app_token if method == "apps.connections.open" else self.token
        if token != wanted:
            return web.json_response({"ok": False, "error": "invalid_auth"})

        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        body = handler(args)
        extra = {"x-oauth-scopes": ",".join(self.scopes)}
        return web.json_response({"ok": "error" not in body, **body}, headers=extra)

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://shop-test.slack.com/",
            "team": "Shop",
            "user": "ccbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": "B0CCBOT",
            "is_enterprise_install": False,
        }

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        return {"user": user.json()} if user else {"error": "user_not_found"}

    def _m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if user.email.lower() == email:
                return {"user": user.json()}
        return {"error": "users_not_found"}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("users", ""))
        if user not in self.users:
            return {"error": "user_not_found"}
        return {"channel": {"id": "D" + user[1:]}}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel")))
        if channel is None or (channel.is_private and not channel.is_member):
            return {"error": "channel_not_found"}
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_member": channel.is_member,
                "is_private": channel.is_private,
            }
        }

    def _postable(self, channel_id: str) -> str:
        if channel_id.startswith("D"):
            return ""
        channel = self.channels.get(channel_id)
        if channel is None:
            return "channel_not_found"
        return "" if channel.is_member else "not_in_channel"

    def _message_problem(self, args: dict[str, Any]) -> str:
        if not args.get("text") and not args.get("blocks"):
            return "no_text"
        blocks = _json(args.get("blocks")) or []
        return "invalid_blocks" if block_problems(blocks) else ""

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        problem = self._postable(channel) or self._message_problem(args)
        if problem:
            return {"error": problem}
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        self.messages[(channel, ts)] = {
            "text": args.get("text", ""),
            "blocks": _json(args.get("blocks")) or [],
        }
        return {"channel": channel, "ts": ts, "message": self.messages[(channel, ts)]}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel", "")), str(args.get("ts", "")))
        if key not in self.messages:
            return {"error": "message_not_found"}
        problem = self._message_problem(args)
        if problem:
            return {"error": problem}
        self.messages[key] = {
            "text": args.get("text", ""),
            "blocks": _json(args.get("blocks")) or [],
        }
        return {"channel": key[0], "ts": key[1]}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if str(args.get("user")) not in self.users:
            return {"error": "user_not_found"}
        problem = self._postable(channel) or self._message_problem(args)
        if problem:
            return {"error": problem}
        return {"message_ts": f"{int(time.time())}.{next(self._ts):06d}"}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _json(args.get("view")) or {}
        user = str(args.get("user_id", ""))
        if user not in self.users:
            return {"error": "user_not_found"}
        if view.get("type") != "home" or block_problems(view.get("blocks", []), "home"):
            return {"error": "invalid_arguments"}
        self.views[user] = view
        return {"view": {"id": "V" + user[1:], **view}}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return {"error": "invalid_arguments"}
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        self.uploads[file_id] = {
            "filename": args["filename"],
            "length": int(args["length"]),
            "content": None,
        }
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = _json(args.get("files")) or []
        channel = str(args.get("channel_id", ""))
        if channel and self._postable(channel):
            return {"error": self._postable(channel)}
        done = []
        for item in files:
            upload = self.uploads.get(item.get("id", ""))
            if upload is None or upload["content"] is None:
                return {"error": "file_not_found"}
            upload.update(
                title=item.get("title"),
                channel=channel,
                comment=args.get("initial_comment", ""),
            )
            done.append({"id": item["id"], "title": item.get("title")})
        return {"files": done}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.base_url.replace("http://", "ws://") + "/socket"}

    # response URLs and the upload URL

    async def _response_url(self, request: web.Request) -> web.Response:
        key = request.match_info["id"]
        if key not in self.responses:
            return web.Response(status=404, text="no_active_hooks")
        self.responses[key].append(await request.json())
        self.answered_at.setdefault(key, time.monotonic())
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404)
        upload["content"] = await request.read()
        return web.Response(text=f"OK - {len(upload['content'])}")

    # Socket Mode

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "connection_info": {"app_id": APP_ID},
            }
        )
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            waiting = self._acks.pop(ack.get("envelope_id", ""), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(ack)
        self._sockets.remove(socket)
        return socket

    @property
    def socket_connected(self) -> bool:
        return bool(self._sockets)

    async def send_envelope(
        self, kind: str, payload: dict[str, Any], within: float = 5.0
    ) -> dict[str, Any]:
        """Deliver one Socket Mode envelope; return the app's ack."""
        envelope_id = str(uuid.uuid4())
        waiting: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._acks[envelope_id] = waiting
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return await asyncio.wait_for(waiting, within)

    # requests the way Slack builds them

    def slash_command(
        self, user_id: str, command: str, text: str = "", channel: str = "C0SALES"
    ) -> dict[str, str]:
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "shop-test",
            "channel_id": channel,
            "channel_name": self.channels[channel].name
            if channel in self.channels
            else "x",
            "user_id": user_id,
            "user_name": self.users[user_id].name.split()[0].lower()
            if user_id in self.users
            else "someone",
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.response_url(),
            "trigger_id": f"{next(self._ts)}.{uuid.uuid4().hex}",
        }

    def home_button(
        self, user_id: str, action_id: str, value: str = ""
    ) -> dict[str, Any]:
        return {
            "type": "block_actions",
            "user": {"id": user_id, "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": "V" + user_id[1:]},
            "trigger_id": f"{next(self._ts)}.{uuid.uuid4().hex}",
            "team": {"id": TEAM_ID, "domain": "shop-test"},
            "view": {"id": "V" + user_id[1:], "type": "home", "team_id": TEAM_ID},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b1",
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": TEAM_ID, "user_id": BOT_USER, "is_bot": True}
            ],
        }


def sign(
    body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's request signing: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(
        secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def form_body(fields: dict[str, str]) -> str:
    return urlencode(fields)


def action_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


async def _arguments(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return args
    if request.content_type == "application/json":
        args.update(await request.json())
    else:
        args.update(dict(await request.post()))
    return args


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else value
