"""The Slack `Chat` adapter against the stand-in Web API over real HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest

from bot.config import Config
from bot.messages import Button, Buttons, Note, Reply, Section, Table
from bot.protocols import Chat, MessageRef
from bot.store import Store
from integrations.slack.chat import SlackChat, make_client
from integrations.slack.people import SlackPeople
from tests.integrations.slack.conftest import ANA, SALES_CHANNEL, SUPPORT_CHANNEL
from tests.integrations.slack.standin import BOT_TOKEN, SlackStandIn, block_problems

ALERT = Reply(
    text="+1 555 0100 waited 48 s in sales, nobody answered",
    blocks=(
        Section("*Missed call* in *Sales*: +1 555 0100 waited 48 s."),
        Buttons((Button("I'll call back", "calls.claim", "call-1", "primary"),)),
    ),
)


@pytest.fixture
async def chat(config: Config, standin: SlackStandIn) -> AsyncIterator[SlackChat]:
    store = Store(config.store_path)
    client = make_client(standin.api_url, BOT_TOKEN, rate_limit_retries=2)
    yield SlackChat(client, SlackPeople(client, store))
    store.close()


def person(config: Config, email: str):  # type: ignore[no-untyped-def]
    store = Store(config.store_path)
    try:
        found = store.get_person(email)
        assert found is not None
        return found
    finally:
        store.close()


async def test_is_a_chat(chat: SlackChat) -> None:
    adapter: Chat = chat
    assert adapter is chat


async def test_post_then_update_a_channel_message(
    chat: SlackChat, standin: SlackStandIn
) -> None:
    ref = await chat.post(f"slack:{SALES_CHANNEL}", ALERT)

    assert ref is not None and ref.channel == f"slack:{SALES_CHANNEL}"
    posted = standin.messages[(SALES_CHANNEL, ref.id)]
    assert posted["text"] == ALERT.text  # the notification fallback
    assert posted["blocks"][-1]["elements"][0]["value"] == "call-1"

    await chat.update(ref, Reply(text="Ana is calling +1 555 0100 back."))

    assert standin.messages[(SALES_CHANNEL, ref.id)]["text"].startswith(
        "Ana is calling"
    )


async def test_ephemeral_and_direct_find_the_slack_user_by_email(
    chat: SlackChat, standin: SlackStandIn, config: Config
) -> None:
    ana = person(config, "ana@shop.test")

    await chat.ephemeral(
        f"slack:{SALES_CHANNEL}", ana, Reply(text="Only you see this.")
    )
    ref = await chat.direct(ana, Reply(text="Your pause ended."))

    ephemeral = standin.calls_to("chat.postEphemeral")[0]
    assert ephemeral.args["user"] == ANA
    assert standin.calls_to("conversations.open")[0].args["users"] == ANA
    assert ref == MessageRef("slack:D0ANA", ref.id if ref else "")
    assert len(standin.calls_to("users.lookupByEmail")) == 1  # cached after


async def test_upload_uses_the_external_upload_flow(
    chat: SlackChat, standin: SlackStandIn
) -> None:
    content = b"\x89PNG fake chart bytes" * 100

    await chat.upload(
        f"slack:{SALES_CHANNEL}", "sales.png", content, "Sales today", "Daily digest"
    )

    (upload,) = standin.uploads.values()
    assert upload["content"] == content
    assert upload["title"] == "Sales today" and upload["channel"] == SALES_CHANNEL
    assert upload["comment"] == "Daily digest"
    methods = [c.method for c in standin.calls]
    assert methods.index("files.getUploadURLExternal") < methods.index(
        "files.completeUploadExternal"
    )


async def test_rate_limit_is_waited_out_and_retried(
    chat: SlackChat, standin: SlackStandIn
) -> None:
    standin.rate_limit("chat.postMessage", retry_after=1)

    began = time.monotonic()
    ref = await chat.post(f"slack:{SALES_CHANNEL}", ALERT)

    assert ref is not None
    assert time.monotonic() - began >= 1.0
    assert len(standin.calls_to("chat.postMessage")) == 2


async def test_channel_the_bot_is_not_in_is_logged_once_with_what_to_do(
    chat: SlackChat, standin: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="integrations.slack.chat")

    first = await chat.post(f"slack:{SUPPORT_CHANNEL}", ALERT)
    second = await chat.post(f"slack:{SUPPORT_CHANNEL}", ALERT)

    assert first is None and second is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "/invite @ccbot" in errors[0].getMessage()
    assert chat.unreachable == {f"slack:{SUPPORT_CHANNEL}": "not_in_channel"}


async def test_long_list_is_summarised_not_refused(
    chat: SlackChat, standin: SlackStandIn
) -> None:
    rows = tuple((f"Agent {n}", "paused: " + "x" * 80) for n in range(400))
    tables = tuple(Table(f"Queue {q}", ("Member", "State"), rows) for q in range(30))
    huge = Reply(text="30 queues, 0 callers waiting.", blocks=(*tables, Note("end")))

    ref = await chat.post(f"slack:{SALES_CHANNEL}", huge)

    assert ref is not None
    blocks = standin.messages[(SALES_CHANNEL, ref.id)]["blocks"]
    assert block_problems(blocks) == []
    assert "more parts not shown" in blocks[-1]["elements"][0]["text"]


async def test_other_platform_address_is_not_sent(
    chat: SlackChat, standin: SlackStandIn
) -> None:
    assert await chat.post("teams:19:abc", ALERT) is None
    assert standin.calls_to("chat.postMessage") == []


async def test_person_not_in_slack_is_looked_up_once(
    chat: SlackChat, standin: SlackStandIn, config: Config
) -> None:
    del standin.users["U0SAM"]
    sam = person(config, "sam@shop.test")

    first = await chat.direct(sam, Reply(text="hello"))
    second = await chat.direct(sam, Reply(text="hello again"))

    assert first is None and second is None
    assert len(standin.calls_to("users.lookupByEmail")) == 1
    assert standin.calls_to("chat.postMessage") == []
