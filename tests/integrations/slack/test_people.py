"""Slack's escaped command text back to what the person typed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import Config
from bot.store import Store
from integrations.slack.chat import make_client
from integrations.slack.people import SlackPeople
from tests.integrations.slack.conftest import BEN
from tests.integrations.slack.standin import BOT_TOKEN, SlackStandIn


@pytest.fixture
async def people(config: Config, standin: SlackStandIn) -> AsyncIterator[SlackPeople]:
    store = Store(config.store_path)
    yield SlackPeople(make_client(standin.api_url, BOT_TOKEN, 1), store)
    store.close()


async def test_mentions_links_and_entities_are_decoded(people: SlackPeople) -> None:
    text = (
        f"<@{BEN}|ben> fix &lt;printer&gt; &amp; phones in <#C0SALES|sales-calls> "
        "see <https://wiki.shop.test/p|the wiki> <mailto:it@shop.test|it@shop.test> "
        "<!here> <!subteam^S0123|@support-team>"
    )

    plain, unknown = await people.decode(text)

    assert unknown == []
    assert plain == (
        "ben@shop.test fix <printer> & phones in #sales-calls see the wiki "
        "it@shop.test @here @support-team"
    )


async def test_person_matched_by_email_once_then_by_saved_slack_id(
    people: SlackPeople, standin: SlackStandIn
) -> None:
    first = await people.person_for(BEN)
    second = await people.person_for(BEN)

    assert first is not None and second is not None
    assert first.email == second.email == "ben@shop.test"
    assert second.slack_id == BEN
    assert len(standin.calls_to("users.info")) == 1
