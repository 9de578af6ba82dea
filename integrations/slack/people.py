"""Slack users to people and back: stored slack_id first, else the email.

Emails Slack reports are cached in the store (`slack_users`), so a busy
channel does not call users.info for every command, and a match is saved on
the person as their slack_id.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import Person
from bot.errors import CcbotError
from bot.store import Store

log = logging.getLogger(__name__)

# With should_escape on, Slack sends <@U123|name>, <#C123|name>, <!here>,
# <mailto:a@b.c|a@b.c> and <https://…|label>, and escapes &, < and >.
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+\|([^>]*)>")
_LINK = re.compile(r"<(?:mailto:)?[^>|]+\|([^>]*)>|<(?:mailto:)?([^>|!@#][^>]*)>")
_SPECIAL = re.compile(r"<!(?:subteam\^[A-Z0-9]+\|)?([^>|]+)(?:\|[^>]*)?>")
_NOBODY = "none:"  # cached "this email has no Slack user"
_UNREACHABLE = (SlackRequestError, aiohttp.ClientError, TimeoutError)


class SlackUnavailable(CcbotError):
    """Slack's Web API could not be reached to look someone up."""


class SlackPeople:
    def __init__(
        self, client: AsyncWebClient, store: Store, cache_hours: float = 24.0
    ) -> None:
        self.client = client
        self.store = store
        self.ttl = timedelta(hours=cache_hours)

    # Slack user -> person

    async def person_for(self, user_id: str) -> Person | None:
        person = self.store.person_by("slack_id", user_id)
        if person is not None:
            return person
        email = await self.email_of(user_id)
        person = self.store.get_person(email) if email else None
        if person is not None:
            self.store.set_chat_id(person.email, "slack_id", user_id)
            log.info("matched Slack user %s to %s by email", user_id, person.email)
        return person

    async def email_of(self, user_id: str) -> str:
        cached = self._cached(user_id)
        if cached is not None:
            return cached
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning(
                "users.info for %s failed: %s", user_id, exc.response.get("error")
            )
            return ""
        except _UNREACHABLE as exc:
            raise SlackUnavailable(type(exc).__name__) from exc
        user = response.get("user") or {}
        email = str((user.get("profile") or {}).get("email") or "").lower()
        self._remember(user_id, email)
        return email

    # person -> Slack user

    async def user_for(self, person: Person) -> str:
        """The person's Slack user id, or "" when they are not in Slack."""
        stored = self.store.get_person(person.email)
        if stored is not None and stored.slack_id:
            return stored.slack_id
        if person.slack_id:
            return person.slack_id
        row = self.store.db.execute(
            "SELECT user_id, checked FROM slack_users WHERE email = ?",
            [person.email],
        ).fetchone()
        if row and self._fresh(row[1]):
            return "" if str(row[0]).startswith(_NOBODY) else str(row[0])
        try:
            response = await self.client.users_lookupByEmail(email=person.email)
        except SlackApiError as exc:
            log.info(
                "no Slack user for %s: %s", person.email, exc.response.get("error")
            )
            self._remember(_NOBODY + person.email, person.email)
            return ""
        except _UNREACHABLE as exc:
            log.warning("Slack unreachable looking up %s: %s", person.email, exc)
            return ""
        user_id = str((response.get("user") or {}).get("id") or "")
        if user_id:
            self.store.db.execute(
                "DELETE FROM slack_users WHERE user_id = ?", [_NOBODY + person.email]
            )
            self._remember(user_id, person.email)
            self.store.set_chat_id(person.email, "slack_id", user_id)
        return user_id

    # mentions

    async def decode(self, text: str) -> tuple[str, list[str]]:
        """Slack's escaped text as typed, user mentions turned into emails.

        Returns the text and the mentions that matched no one in the people
        list, as @name for the reply.
        """
        unknown: list[str] = []
        parts: list[str] = []
        position = 0
        for match in _USER.finditer(text):
            parts.append(text[position : match.start()])
            person = await self.person_for(match.group(1))
            if person is None:
                unknown.append(f"@{match.group(2) or match.group(1)}")
                parts.append(match.group(0))
            else:
                parts.append(person.email)
            position = match.end()
        parts.append(text[position:])
        plain = "".join(parts)
        plain = _CHANNEL.sub(lambda m: f"#{m.group(1)}", plain)
        plain = _SPECIAL.sub(lambda m: f"@{m.group(1).lstrip('@')}", plain)
        plain = _LINK.sub(lambda m: m.group(1) or m.group(2), plain)
        return html.unescape(plain), unknown

    # the cache

    def _cached(self, user_id: str) -> str | None:
        row = self.store.db.execute(
            "SELECT email, checked FROM slack_users WHERE user_id = ?", [user_id]
        ).fetchone()
        if row and self._fresh(row[1]):
            return str(row[0])
        return None

    def _fresh(self, checked: str) -> bool:
        return datetime.now(UTC) - datetime.fromisoformat(checked) < self.ttl

    def _remember(self, user_id: str, email: str) -> None:
        self.store.db.table("slack_users").upsert(
            {
                "user_id": user_id,
                "email": email,
                "checked": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            pk="user_id",
        )
