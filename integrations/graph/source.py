"""Calendars, mailbox settings and Teams presence through Microsoft Graph.

One refresh asks, for each person, for the calendar view of the window and
for the user's id with its mailbox settings (working hours, automatic
replies), 20 requests to a JSON batch, several batches at once. Presence is
read for up to 650 users per request. A batch item answered 429 or 5xx is
sent again in a later batch after its Retry-After (tenacity); one mailbox's
other error is that person's error and the rest of the batch stands.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError, ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from msgraph import GraphServiceClient
from msgraph.generated.communications.get_presences_by_user_id.get_presences_by_user_id_post_request_body import (  # noqa: E501
    GetPresencesByUserIdPostRequestBody,
)
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.user_item_request_builder import (
    UserItemRequestBuilder,
)
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from bot.config import GraphSettings
from bot.domain import Person
from bot.errors import CalendarUnavailable
from bot.protocols import PersonCalendar, PresenceReading
from integrations.graph import mapping
from integrations.graph.client import (
    credential,
    graph_client,
    http_client,
    scope_for,
)

log = logging.getLogger(__name__)

BATCH_LIMIT = 20  # requests in one JSON batch (Graph's documented limit)
PRESENCE_LIMIT = 650  # user ids in one getPresencesByUserId request
PAGE_SIZE = 250  # events in one calendar view page
ITEM_ATTEMPTS = 5  # tries of one batch item answered 429 or 5xx
EVENT_FIELDS = ["subject", "start", "end", "showAs", "sensitivity", "isAllDay"]
EVENT_FIELDS += ["isCancelled", "type"]
RETRY_STATUSES = {429, 500, 502, 503, 504}


class _Again(Exception):
    """Some batch items were throttled or failed on the server: send them again."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"retry after {wait} s")
        self.wait = wait


@dataclass
class _Item:
    key: str  # "c:<email>" calendar view, "u:<email>" user with mailbox settings
    email: str
    info: RequestInformation


@dataclass
class _Round:
    """What one refresh gathered, person by person."""

    events: dict[str, list[mapping.Json]] = field(default_factory=dict)
    users: dict[str, mapping.Json] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class GraphSource:
    """Implements the core's ``CalendarSource`` with msgraph-sdk."""

    name = "graph"

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings
        self._credential = credential(settings)
        self._http = http_client(settings)
        self.client: GraphServiceClient = graph_client(
            settings, self._credential, self._http
        )
        self.base = settings.graph_url.rstrip("/")
        self.scope = scope_for(settings)
        self.ids: dict[str, str] = {}  # email -> Entra object id, for presence
        self.requests = 0  # HTTP requests sent, for the benchmark
        self._limit = asyncio.Semaphore(settings.concurrency)

    async def close(self) -> None:
        await self._http.aclose()
        await self._credential.close()

    # calendars and mailbox settings

    async def fetch(
        self, people: Sequence[Person], start: datetime, end: datetime
    ) -> dict[str, PersonCalendar]:
        if not people:
            return {}
        items = []
        for person in people:
            items.append(
                _Item(f"c:{person.email}", person.email, self._view(person, start, end))
            )
            items.append(_Item(f"u:{person.email}", person.email, self._user(person)))
        found = _Round()
        await self._sign_in()
        await self._run(items, found)
        if found.errors and len(found.errors) == len(people) and not found.users:
            raise CalendarUnavailable(next(iter(found.errors.values())))
        return {p.email: self._calendar(p, found, start, end) for p in people}

    def _view(
        self, person: Person, start: datetime, end: datetime
    ) -> RequestInformation:
        query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=_iso(start),
            end_date_time=_iso(end),
            select=EVENT_FIELDS,
            top=PAGE_SIZE,
        )
        config = RequestConfiguration(query_parameters=query)
        # Ask for UTC; the parser still reads any zone Graph sends back.
        config.headers.add("Prefer", 'outlook.timezone="UTC"')
        builder = self.client.users.by_user_id(person.email).calendar_view
        return _frozen(builder.to_get_request_information(config))

    def _user(self, person: Person) -> RequestInformation:
        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=["id", "mailboxSettings"]
        )
        config = RequestConfiguration(query_parameters=query)
        builder = self.client.users.by_user_id(person.email)
        return _frozen(builder.to_get_request_information(config))

    def _calendar(
        self, person: Person, found: _Round, start: datetime, end: datetime
    ) -> PersonCalendar:
        if person.email in found.errors:
            return PersonCalendar(person.email, error=found.errors[person.email])
        settings = found.users.get(person.email, {}).get("mailboxSettings")
        home = mapping.mailbox_zone(settings, person.timezone)
        intervals = [
            interval
            for event in found.events.get(person.email, [])
            if (interval := mapping.interval(event, home)) is not None
        ]
        reply = mapping.automatic_reply(settings, start, end)
        if reply is not None:
            intervals.append(reply)
        return PersonCalendar(
            person.email,
            tuple(sorted(intervals, key=lambda i: i.start)),
            mapping.working_hours(settings, home),
        )

    async def _sign_in(self) -> None:
        """One token before the batches fan out, so they share it.

        azure-identity caches a token once it has one, but concurrent first
        requests would each ask the sign-in endpoint. kiota asks with CAE on,
        which is part of the cache key, so this asks the same way.
        """
        try:
            await self._credential.get_token(self.scope, enable_cae=True)
        except (ClientAuthenticationError, AzureError) as exc:
            raise CalendarUnavailable(mapping.failure_text(exc)) from exc

    # batches

    async def _run(self, items: list[_Item], found: _Round) -> None:
        chunks = [items[i : i + BATCH_LIMIT] for i in range(0, len(items), BATCH_LIMIT)]
        await asyncio.gather(*(self._chunk(chunk, found) for chunk in chunks))

    async def _chunk(self, items: list[_Item], found: _Round) -> None:
        pending = {item.key: item for item in items}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(ITEM_ATTEMPTS),
            wait=_wait_retry_after,
            retry=retry_if_exception_type(_Again),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(pending, found)
        except _Again:
            for item in pending.values():
                found.errors.setdefault(
                    item.email, "Graph kept throttling this mailbox"
                )
            log.warning(
                "Graph still throttling %s batch items; giving up this round",
                len(pending),
            )

    async def _post(self, pending: dict[str, _Item], found: _Round) -> None:
        batch = BatchRequestContent()
        for key, item in pending.items():
            entry = BatchRequestItem(item.info, id=key)
            entry.url = self._relative(item.info.url)
            batch.add_request(key, entry)
        async with self._limit:
            self.requests += 1
            try:
                replies = await self._send(batch)
            except (APIError, ClientAuthenticationError, AzureError, OSError) as exc:
                self._fail_all(pending, found, exc)
                return
        again = 0.0
        for key in list(pending):
            item = pending[key]
            reply = replies.get(key)
            status = int(reply.get("status", 0)) if reply else 0
            if reply is None or status in RETRY_STATUSES:
                again = max(
                    again, _retry_after(reply.get("headers") if reply else None)
                )
                continue
            del pending[key]
            if status >= 400:
                found.errors[item.email] = mapping.error_text(status, reply.get("body"))
                log.warning("Graph answered %s for %s (%s)", status, item.email, key[0])
                continue
            self._take(item, reply.get("body") or {}, found, pending)
        if pending:
            raise _Again(again)

    async def _send(self, batch: BatchRequestContent) -> dict[str, dict[str, Any]]:
        """POST one $batch through the SDK's adapter; its items by id.

        msgraph-core's BatchResponseContent drops item bodies that are JSON
        objects (microsoft/kiota-python#737), so the envelope is read here.
        """
        info = await self.client.batch.to_post_request_information(batch)
        adapter = self.client.request_adapter
        raw = await adapter.send_primitive_async(info, "bytes", {})  # type: ignore[func-returns-value]
        envelope = json.loads(raw or b"{}")
        return {str(r.get("id")): r for r in envelope.get("responses", [])}

    def _take(
        self,
        item: _Item,
        body: dict[str, Any],
        found: _Round,
        pending: dict[str, _Item],
    ) -> None:
        if item.key.startswith("u:"):
            found.users[item.email] = body
            if body.get("id"):
                self.ids[item.email] = str(body["id"])
            return
        found.events.setdefault(item.email, []).extend(body.get("value") or [])
        next_link = body.get("@odata.nextLink")
        if next_link:
            # The next page rides in the next batch of this chunk.
            follow = RequestInformation()
            follow.http_method = item.info.http_method
            follow.url = next_link
            follow.headers = item.info.headers
            key = f"{item.key}+"
            pending[key] = _Item(key, item.email, follow)

    def _relative(self, url: str) -> str:
        """Batch items name their URL relative to the version root."""
        if url.startswith(self.base):
            return url[len(self.base) :]
        if url.startswith("/"):
            return url
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _fail_all(
        self, pending: dict[str, _Item], found: _Round, exc: Exception
    ) -> None:
        reason = mapping.failure_text(exc)
        log.warning("Graph batch of %s requests failed: %s", len(pending), reason)
        for item in pending.values():
            found.errors.setdefault(item.email, reason)
        pending.clear()

    # presence

    async def presence(self, people: Sequence[Person]) -> dict[str, PresenceReading]:
        by_id = {self.ids[p.email]: p.email for p in people if p.email in self.ids}
        ids = list(by_id)
        chunks = [
            ids[i : i + PRESENCE_LIMIT] for i in range(0, len(ids), PRESENCE_LIMIT)
        ]
        readings: dict[str, PresenceReading] = {}
        results = await asyncio.gather(*(self._presence_chunk(c) for c in chunks))
        for presences in results:
            for presence in presences:
                email = by_id.get(str(presence.get("id", "")))
                if email:
                    readings[email] = PresenceReading(
                        email,
                        str(presence.get("availability") or ""),
                        str(presence.get("activity") or ""),
                    )
        return readings

    async def _presence_chunk(self, ids: list[str]) -> list[mapping.Json]:
        builder = self.client.communications.get_presences_by_user_id
        info = builder.to_post_request_information(
            GetPresencesByUserIdPostRequestBody(ids=ids)
        )
        async with self._limit:
            self.requests += 1
            try:
                adapter = self.client.request_adapter
                raw = await adapter.send_primitive_async(info, "bytes", {})  # type: ignore[func-returns-value]
            except (APIError, AzureError, OSError) as exc:
                log.warning(
                    "Graph presence for %s users failed: %s",
                    len(ids),
                    mapping.failure_text(exc),
                )
                return []
        return list(json.loads(raw or b"{}").get("value") or [])


def _frozen(info: RequestInformation) -> RequestInformation:
    """Expand the URL template once; kiota expands it on every read."""
    info.url = info.url
    return info


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after(headers: dict[str, str] | None) -> float:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return 0.0
    return 0.0


def _wait_retry_after(state: RetryCallState) -> float:
    """Retry-After when Graph gives one, else 0.5 s doubling per attempt."""
    error = state.outcome.exception() if state.outcome else None
    backoff = 0.5 * 2 ** (state.attempt_number - 1)
    if isinstance(error, _Again) and error.wait > 0:
        return error.wait
    return backoff
