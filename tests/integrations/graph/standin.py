"""A stand-in for Microsoft Graph and its sign-in endpoint, on 127.0.0.1 over TLS.

It speaks the documented wire format: client-credentials tokens, JSON
batches of at most 20 requests (each item with its own status, headers and
body), calendarView pages, users with mailboxSettings, and
getPresencesByUserId for at most 650 ids. It refuses what Graph refuses, so a
client that breaks a limit fails here too.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import trustme
from aiohttp import web
from cryptography import x509

FIXTURES = Path(__file__).parents[2] / "fixtures" / "graph"
TENANT = "0b9f7c2e-ccb0-4c1d-9e55-7e57e57e57e5"
CLIENT_ID = "3c1e8a77-ccb0-4a0b-8e11-c11e47c11e47"
BATCH_LIMIT = 20
PRESENCE_LIMIT = 650
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

Answer = tuple[int, dict[str, str], Any]


@dataclass
class Mailbox:
    email: str
    id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    mailbox_settings: dict[str, Any] = field(default_factory=dict)
    presence: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    throttle: int = 0  # answer this many calendar views 429 first


def load_mailboxes(name: str = "mailboxes.json") -> dict[str, Mailbox]:
    raw = json.loads((FIXTURES / name).read_text())
    return {
        email: Mailbox(
            email=email,
            id=data["id"],
            events=data.get("events", []),
            mailbox_settings=data.get("mailboxSettings", {}),
            presence=data.get("presence", {}),
            error=data.get("error"),
            throttle=data.get("throttle", 0),
        )
        for email, data in raw.items()
    }


class GraphStandIn:
    def __init__(
        self,
        mailboxes: dict[str, Mailbox],
        secret: str,
        latency: float = 0.0,
        tmp: Path | None = None,
    ) -> None:
        self.mailboxes = mailboxes
        self.secret = secret
        self.latency = latency
        self.counts: Counter[str] = Counter()
        self.prefer_utc = 0
        self.batch_sizes: list[int] = []
        self.throttle_batches = 0  # answer this many whole batches 429 first
        self.tokens: set[str] = set()
        self.identity_header = secrets.token_urlsafe(8)
        self.certificate: x509.Certificate | None = None  # for certificate sign-in
        self._ca = trustme.CA()
        self._tmp = tmp
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.ca_path = ""

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_get("/msi/token", self.managed_identity)
        app.router.add_post("/v1.0/$batch", self.batch)
        app.router.add_post("/v1.0/communications/getPresencesByUserId", self.presences)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls())
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"https://127.0.0.1:{port}"

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1").configure_cert(context)
        folder = self._tmp or Path(".")
        path = folder / "graph-standin-ca.pem"
        self._ca.cert_pem.write_to_path(str(path))
        self.ca_path = str(path)
        return context

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _slow(self) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)

    # sign-in

    async def token(self, request: web.Request) -> web.Response:
        self.counts["token"] += 1
        await self._slow()
        form = await request.post()
        if request.match_info["tenant"] != TENANT or form.get("client_id") != CLIENT_ID:
            return web.json_response({"error": "unauthorized_client"}, status=400)
        if not self._client_proof(form, str(request.url)):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        )

    async def managed_identity(self, request: web.Request) -> web.Response:
        """App Service's managed identity endpoint (IDENTITY_ENDPOINT)."""
        self.counts["token"] += 1
        if request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return web.json_response({"error": "unauthorized"}, status=401)
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": request.query.get("resource", ""),
                "token_type": "Bearer",
            }
        )

    def _client_proof(self, form: Any, url: str) -> bool:
        """A client secret, or a JWT signed by the registered certificate."""
        if "client_assertion" not in form:
            return form.get("client_secret") == self.secret
        if form.get("client_assertion_type") != JWT_BEARER or not self.certificate:
            return False
        try:
            claims = jwt.decode(
                str(form["client_assertion"]),
                self.certificate.public_key(),
                algorithms=["RS256", "PS256"],
                audience=url,
            )
        except jwt.PyJWTError:
            return False
        return claims.get("sub") == CLIENT_ID

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    # Graph

    async def batch(self, request: web.Request) -> web.Response:
        self.counts["batch"] += 1
        await self._slow()
        if not self._authorized(request):
            return _error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if self.throttle_batches > 0:
            self.throttle_batches -= 1
            return _error(429, "TooManyRequests", "Slow down.", {"Retry-After": "1"})
        body = await request.json()
        items = body.get("requests", [])
        self.batch_sizes.append(len(items))
        if len(items) > BATCH_LIMIT:
            return _error(400, "BadRequest", "Too many requests in a batch.")
        responses = []
        for item in items:
            self.counts["items"] += 1
            status, headers, payload = self._one(item)
            headers.setdefault("Content-Type", "application/json")
            responses.append(
                {
                    "id": item["id"],
                    "status": status,
                    "headers": headers,
                    "body": payload,
                }
            )
        return web.json_response({"responses": responses})

    def _one(self, item: dict[str, Any]) -> Answer:
        url = urlsplit(item["url"])
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if len(parts) < 2 or parts[0] != "users":
            return _item_error(400, "BadRequest", "Unsupported in the stand-in.")
        mailbox = self._mailbox(parts[1])
        if mailbox is None:
            return _item_error(404, "ResourceNotFound", "User not found.")
        if len(parts) == 3 and parts[2] == "calendarView":
            return self._calendar_view(mailbox, query, item.get("headers") or {})
        if len(parts) == 2:
            return self._user(mailbox, query)
        return _item_error(400, "BadRequest", "Unsupported in the stand-in.")

    def _mailbox(self, key: str) -> Mailbox | None:
        found = self.mailboxes.get(key.lower())
        if found is None:
            found = next((m for m in self.mailboxes.values() if m.id == key), None)
        return found

    def _calendar_view(
        self, mailbox: Mailbox, query: dict[str, str], headers: dict[str, str]
    ) -> Answer:
        if "startDateTime" not in query or "endDateTime" not in query:
            return _item_error(
                400, "ErrorInvalidParameter", "startDateTime is required."
            )
        prefer = {k.lower(): v for k, v in headers.items()}.get("prefer", "")
        if 'outlook.timezone="UTC"' in prefer:
            self.prefer_utc += 1
        if mailbox.throttle > 0:
            mailbox.throttle -= 1
            return _item_error(
                429, "ApplicationThrottled", "Too many.", {"Retry-After": "1"}
            )
        if mailbox.error is not None:
            error = mailbox.error
            return _item_error(error["status"], error["code"], error["message"])
        top = int(query.get("$top", "10"))
        skip = int(query.get("$skip", "0"))
        page = mailbox.events[skip : skip + top]
        body: dict[str, Any] = {"value": copy.deepcopy(page)}
        if skip + top < len(mailbox.events):
            rest = dict(query, **{"$skip": str(skip + top)})
            link = "&".join(f"{k}={v}" for k, v in rest.items())
            body["@odata.nextLink"] = (
                f"{self.graph_url}/users/{mailbox.email}/calendarView?{link}"
            )
        return 200, {}, body

    def _user(self, mailbox: Mailbox, query: dict[str, str]) -> Answer:
        fields = query.get("$select", "id").split(",")
        body: dict[str, Any] = {"id": mailbox.id}
        if "mailboxSettings" in fields:
            body["mailboxSettings"] = mailbox.mailbox_settings
        return 200, {}, body

    async def presences(self, request: web.Request) -> web.Response:
        self.counts["presence"] += 1
        await self._slow()
        if not self._authorized(request):
            return _error(401, "InvalidAuthenticationToken", "Access token is empty.")
        ids = (await request.json()).get("ids", [])
        if len(ids) > PRESENCE_LIMIT:
            return _error(400, "BadRequest", "Too many ids.")
        by_id = {m.id: m for m in self.mailboxes.values()}
        value = [
            {
                "id": i,
                "availability": by_id[i].presence.get("availability", "Offline"),
                "activity": by_id[i].presence.get("activity", "Offline"),
            }
            for i in ids
            if i in by_id
        ]
        return web.json_response({"value": value})


def _item_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Answer:
    return status, dict(headers or {}), {"error": {"code": code, "message": message}}


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )
