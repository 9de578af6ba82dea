"""The core's `Chat` protocol on Slack's Web API, for "slack:<channel id>".

Rate limits are waited out by slack_sdk's own retry handler (it honours
Retry-After). A channel the bot cannot post to is logged once, with what to
do, and remembered for `ccbot doctor`; nothing here raises to the caller.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import Person
from bot.messages import Reply
from bot.protocols import MessageRef
from integrations.slack.blocks import render
from integrations.slack.people import SlackPeople

log = logging.getLogger(__name__)

PREFIX = "slack:"
# Errors that mean "this channel, until an admin does something".
_CHANNEL_ERRORS = {
    "not_in_channel": "invite the bot there: `/invite @ccbot` in the channel",
    "channel_not_found": "check the channel id in the config, and invite the bot "
    "if it is private",
    "is_archived": "unarchive it or pick another channel in the config",
    "restricted_action": "a workspace admin restricts posting there; ask them",
    "ekm_access_denied": "the channel's encryption key is revoked; ask an admin",
}


def make_client(base_url: str, token: str, rate_limit_retries: int) -> AsyncWebClient:
    """A Web API client that waits out HTTP 429 (Retry-After) and retries."""
    client = AsyncWebClient(token=token, base_url=_with_slash(base_url))
    client.retry_handlers.append(
        AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)
    )
    return client


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def channel_id(address: str) -> str | None:
    return address[len(PREFIX) :] if address.startswith(PREFIX) else None


class SlackChat:
    """Implements bot.protocols.Chat for Slack channels and people."""

    def __init__(self, client: AsyncWebClient, people: SlackPeople) -> None:
        self.client = client
        self.people = people
        self.unreachable: dict[str, str] = {}  # address -> Slack error

    async def post(self, channel: str, message: Reply) -> MessageRef | None:
        target = self._target(channel)
        if target is None:
            return None
        response = await self.call(
            channel, "chat_postMessage", channel=target, **render(message).message()
        )
        if response is None:
            return None
        return MessageRef(PREFIX + str(response.get("channel", target)), response["ts"])

    async def update(self, ref: MessageRef, message: Reply) -> None:
        target = self._target(ref.channel)
        if target is not None:
            await self.call(
                ref.channel,
                "chat_update",
                channel=target,
                ts=ref.id,
                **render(message).message(),
            )

    async def ephemeral(self, channel: str, person: Person, message: Reply) -> None:
        target = self._target(channel)
        user = await self.people.user_for(person)
        if target is None or not user:
            if target is not None:
                log.warning("no Slack user for %s: ephemeral dropped", person.email)
            return
        await self.call(
            channel,
            "chat_postEphemeral",
            channel=target,
            user=user,
            **render(message).message(),
        )

    async def direct(self, person: Person, message: Reply) -> MessageRef | None:
        user = await self.people.user_for(person)
        if not user:
            log.warning("no Slack user for %s: direct message dropped", person.email)
            return None
        opened = await self.call(f"{PREFIX}{user}", "conversations_open", users=user)
        if opened is None:
            return None
        return await self.post(PREFIX + opened["channel"]["id"], message)

    async def upload(
        self, channel: str, filename: str, content: bytes, title: str, comment: str
    ) -> None:
        target = self._target(channel)
        if target is not None:
            await self.call(
                channel,
                "files_upload_v2",
                channel=target,
                filename=filename,
                content=content,
                title=title,
                initial_comment=comment,
            )

    def _target(self, address: str) -> str | None:
        target = channel_id(address)
        if target is None:
            log.error("%s is not a Slack address (slack:<channel id>)", address)
        return target

    async def call(self, address: str, method: str, **kwargs: Any) -> Any:
        try:
            response = await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            self._failed(address, method, str(exc.response.get("error", "")))
            return None
        except (SlackRequestError, OSError, TimeoutError) as exc:
            log.warning(
                "Slack %s to %s failed: %s", method, address, type(exc).__name__
            )
            return None
        self.unreachable.pop(address, None)
        return response

    def _failed(self, address: str, method: str, error: str) -> None:
        advice = _CHANNEL_ERRORS.get(error)
        if advice is None:
            log.warning("Slack %s to %s refused: %s", method, address, error)
            return
        if self.unreachable.get(address) != error:
            log.error("ccbot can't post to %s (%s): %s", address, error, advice)
        self.unreachable[address] = error
