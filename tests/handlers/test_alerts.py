"""Alert rules without a phone system: call events in, chat messages out."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.calls import CallDb, CallerJoined, CallerLeft, CallTracker, Outcome
from bot.config import Config
from bot.messages import Reply, render_text
from handlers.alerts import (
    ALERT_CALLED_BACK,
    ALERT_CLAIM,
    ALERT_NO_NEED,
    Alerts,
    render_nudge,
)
from tests.handlers.test_alerts_asterisk import RecordingChat, fields

SALES = "slack:C0SALES"
OTHER = "slack:C0OTHER"


@pytest.fixture
def workspace(workspace: Path) -> Path:
    toml = workspace / "ccbot.toml"
    text = toml.read_text().replace(
        'display_name = "Sales"\n',
        f'display_name = "Sales"\nchannels = ["{SALES}", "{OTHER}"]\n',
    )
    toml.write_text(text + '\n[calls]\ndefault_region = "PT"\nmask_numbers = true\n')
    return workspace


@pytest.fixture
async def offline(config: Config) -> AsyncIterator[tuple[App, RecordingChat]]:
    """ccbot without connecting to Asterisk: events go straight to the tracker."""
    app = App(config)
    chat = RecordingChat()
    app.alerts.chat = chat
    yield app, chat
    await app.close()


def miss(app: App, uid: str, number: str, name: str = "", wait: int = 30) -> None:
    now = app.calls.clock()
    app.calls.handle(CallerJoined("main", uid, "sales", number, name, now - wait))
    app.calls.handle(CallerLeft("main", uid, "sales", Outcome.ABANDONED, wait, now))


async def test_each_channel_gets_the_alert_and_repeat_callers_are_counted(
    offline: tuple[App, RecordingChat],
) -> None:
    app, chat = offline
    miss(app, "1.1", "912345678", "Zoë Ångström")
    await app.alerts.settle()
    miss(app, "1.2", "+351 912 345 678")  # the same number, written another way
    await app.alerts.settle()

    assert [p.channel for p in chat.posts(SALES) + chat.posts(OTHER)] == [SALES] * 2 + [
        OTHER
    ] * 2
    first, second = (fields(p.message) for p in chat.posts(SALES))
    assert first["Caller"] == "••• ••5 678 (Zoë Ångström)"  # national, last 4 shown
    assert first["Calls today"] == "1" and second["Calls today"] == "2"
    assert first["Rang"] == "nobody (no one was free)"


async def test_a_call_is_never_alerted_twice(
    offline: tuple[App, RecordingChat],
) -> None:
    app, chat = offline
    miss(app, "2.1", "+15550100")
    await app.alerts.settle()
    [record] = [r for r in [await _record(app, "2.1")] if r]
    assert await app.alerts.post_missed(record) is None
    # and the tracker settles a call once: a second leave is ignored
    app.calls.handle(CallerLeft("main", "2.1", "sales", Outcome.UNANSWERED, 40, 0.0))
    await app.alerts.settle()
    assert len(chat.posts(SALES)) == 1


async def _record(app: App, uid: str):  # type: ignore[no-untyped-def]
    from bot.calls import CallDb, record_from_row

    await app.calls.flush()
    row = app.calls.db.run(
        lambda c: c.execute("SELECT * FROM calls WHERE uniqueid = ?", [uid]).fetchone()
    )
    assert CallDb is not None
    return record_from_row(row)


async def test_buttons_claim_close_and_refuse_politely(
    offline: tuple[App, RecordingChat],
) -> None:
    app, chat = offline
    miss(app, "3.1", "+15550100")
    await app.alerts.settle()
    alert_id = next(
        b.value
        for block in chat.posts(SALES)[0].message.blocks
        for b in getattr(block, "buttons", ())
    )
    ana, ben = app.control.person("ana@shop.test"), app.control.person("ben@shop.test")

    claimed = await app.alerts.handle_action(ALERT_CLAIM, alert_id, ana)
    done = await app.alerts.handle_action(ALERT_CALLED_BACK, alert_id, ben)
    late = await app.alerts.handle_action(ALERT_NO_NEED, alert_id, ana)
    damaged = await app.alerts.handle_action(ALERT_CLAIM, "not-a-number", ana)
    unknown = await app.alerts.handle_action("ccbot_gone", alert_id, ana)

    assert claimed.public and "Ana Lima is calling back." in render_text(claimed)
    assert done.public and "Closed: Ben Okafor called back at" in render_text(done)
    assert "[Called back]" not in render_text(done)
    assert not late.public and late.text.startswith(
        "This missed call is already closed."
    )
    assert "Closed: Ben Okafor called back at" in late.text
    assert not damaged.public and "ccbot admin" in damaged.text
    assert not unknown.public
    # every copy of the alert (both channels) shows each change
    updates = [s for s in chat.sent if s.kind == "update"]
    assert [u.channel for u in updates] == [SALES, OTHER, SALES, OTHER]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def refuse(email: str, line: str) -> Reply:
    raise AssertionError(f"no command expected, got {line!r} from {email}")


@pytest.fixture
async def nudging(config: Config) -> AsyncIterator[tuple[CallTracker, Alerts, Clock]]:
    clock = Clock()
    tracker = CallTracker(config, CallDb(config.store_path), clock=clock)
    alerts = Alerts(config, tracker, refuse, RecordingChat())
    alerts.rules["billing"] = dataclasses.replace(
        alerts.rules["billing"],
        channels=("slack:C0BILLING",),
        nudge_callers=2,
        nudge_wait_seconds=60,
        nudge_cooldown_minutes=10,
    )
    yield tracker, alerts, clock
    await alerts.close()
    await tracker.close()
    tracker.db.close()


def join(tracker: CallTracker, uid: str, at: float) -> None:
    tracker.handle(CallerJoined("main", uid, "billing", "+12025550100", "", at))


def leave(tracker: CallTracker, uid: str, at: float) -> None:
    tracker.handle(CallerLeft("main", uid, "billing", Outcome.ABANDONED, 5, at))


async def test_nudge_cools_down_after_it_clears(
    nudging: tuple[CallTracker, Alerts, Clock],
) -> None:
    tracker, alerts, clock = nudging
    chat = alerts.chat
    assert isinstance(chat, RecordingChat)

    def nudges() -> list[str]:
        return [
            p.message.text
            for p in chat.posts("slack:C0BILLING")
            if "waiting in" in p.message.text
        ]

    join(tracker, "n.1", clock.now)
    join(tracker, "n.2", clock.now)
    await alerts.evaluate_backlog("billing")
    assert nudges() == [
        "2 callers are waiting in Billing, the longest for 0 s. Can you help?"
    ]

    clock.now += 30
    leave(tracker, "n.1", clock.now)
    leave(tracker, "n.2", clock.now)
    await alerts.evaluate_backlog("billing")
    assert alerts.nudge("billing") is None
    assert "cleared" in [s for s in chat.sent if s.kind == "update"][-1].message.text

    clock.now += 5 * 60  # within the cool-down: a new backlog gets no message
    join(tracker, "n.3", clock.now)
    join(tracker, "n.4", clock.now)
    await alerts.evaluate_backlog("billing")
    assert len(nudges()) == 1

    clock.now += 6 * 60  # past it
    await alerts.evaluate_backlog("billing")
    assert len(nudges()) == 2


async def test_one_caller_waiting_too_long_is_a_backlog(
    nudging: tuple[CallTracker, Alerts, Clock],
) -> None:
    tracker, alerts, clock = nudging
    join(tracker, "w.1", clock.now)
    await alerts.evaluate_backlog("billing")
    assert alerts.nudge("billing") is None

    clock.now += 61
    await alerts.evaluate_backlog("billing")
    nudge = alerts.nudge("billing")
    assert nudge is not None and (nudge.callers, nudge.longest) == (1, 61)
    assert "1 caller is waiting in Billing, the longest for 1 min 01 s" in render_text(
        render_nudge(nudge)
    )
