"""Conversation tests: chat commands through the front door, on a real Asterisk."""

from __future__ import annotations

import asyncio

from bot.app import App
from sandbox.asterisk import Sandbox
from tests.conftest import eventually, members, say

ANA, BEN, CLEO = "ana@shop.test", "ben@shop.test", "cleo@shop.test"


async def test_join_shows_in_queue_show_within_a_second(app: App, pbx: Sandbox) -> None:
    reply = await say(app, ANA, "/joinqueue sales")

    assert reply.ok
    assert "You're in sales" in reply.text
    took = await eventually(lambda: "Ana Lima" in members(pbx, "sales"))
    assert took < 1.0
    assert "Ana Lima" not in members(pbx, "support")


async def test_join_without_queue_uses_default_queues(app: App, pbx: Sandbox) -> None:
    reply = await say(app, ANA, "/joinqueue")

    assert reply.ok and "sales and support" in reply.text
    assert "Ana Lima" in members(pbx, "sales")
    assert "Ana Lima" in members(pbx, "support")


async def test_join_all_and_leave_all(app: App, pbx: Sandbox) -> None:
    await say(app, BEN, "/joinqueue all")
    assert all("Ben Okafor" in members(pbx, q) for q in ("sales", "support", "billing"))

    reply = await say(app, BEN, "/leavequeue")

    assert reply.ok and "left" in reply.text
    assert all(
        "Ben Okafor" not in members(pbx, q) for q in ("sales", "support", "billing")
    )


async def test_pause_with_reason_and_unpause(app: App, pbx: Sandbox) -> None:
    await say(app, ANA, "/joinqueue sales")

    reply = await say(app, ANA, "/pause lunch")
    assert reply.ok and "paused in sales" in reply.text and "(lunch)" in reply.text
    await eventually(lambda: "paused:lunch" in members(pbx, "sales")["Ana Lima"])

    reply = await say(app, ANA, "/unpause")
    assert reply.ok and "taking calls again in sales" in reply.text
    await eventually(lambda: "paused" not in members(pbx, "sales")["Ana Lima"])


async def test_pause_covers_static_membership(app: App, pbx: Sandbox) -> None:
    reply = await say(app, "sam@shop.test", "/pause training")

    assert reply.ok
    assert "paused:training" in members(pbx, "support")["Static Sam"]


async def test_unknown_queue_is_refused_and_changes_nothing(
    app: App, pbx: Sandbox
) -> None:
    reply = await say(app, ANA, "/joinqueue salse")

    assert not reply.ok
    assert "no queue called salse" in reply.text and "sales" in reply.text
    assert app.control.memberships(ANA) == []
    assert "Ana Lima" not in members(pbx, "sales")


async def test_unknown_person_is_refused(app: App) -> None:
    reply = await say(app, "eve@elsewhere.test", "/joinqueue sales")

    assert not reply.ok
    assert "not in ccbot's people list" in reply.text
    assert app.store.get_person("eve@elsewhere.test") is None


async def test_malformed_duration_is_refused_and_changes_nothing(
    app: App, pbx: Sandbox
) -> None:
    reply = await say(app, ANA, "/joinqueue sales for banana")

    assert not reply.ok
    assert "can't read 'banana' as a duration" in reply.text
    assert app.control.memberships(ANA) == []
    assert "Ana Lima" not in members(pbx, "sales")


async def test_malformed_clock_time_is_refused(app: App) -> None:
    reply = await say(app, ANA, "/pause until 25:99")

    assert not reply.ok
    assert "as a time" in reply.text
    assert app.control.pauses(ANA) == []


async def test_leaving_a_static_membership_is_refused(app: App, pbx: Sandbox) -> None:
    reply = await say(app, "sam@shop.test", "/leavequeue support")

    assert not reply.ok
    assert "static" in reply.text and "queues.conf" in reply.text
    assert "\n" not in reply.text
    assert "Static Sam" in members(pbx, "support")


async def test_manager_acts_for_someone_else(app: App, pbx: Sandbox) -> None:
    reply = await say(app, CLEO, f"/pause {BEN} coaching for 1h")

    assert reply.ok and "Ben Okafor is paused" in reply.text
    assert app.control.effective_pause(BEN) is not None
    assert app.control.effective_pause(CLEO) is None


async def test_agent_cannot_act_for_someone_else(app: App) -> None:
    reply = await say(app, BEN, f"/joinqueue {ANA} sales")

    assert not reply.ok and "Only managers" in reply.text
    assert app.control.memberships(ANA) == []


async def test_time_boxed_join_ends_on_time(app: App, pbx: Sandbox) -> None:
    app.scheduler.start()
    reply = await say(app, BEN, "/joinqueue sales for 2s")
    assert reply.ok and "until" in reply.text
    assert "Ben Okafor" in members(pbx, "sales")

    await asyncio.sleep(2.0)
    await eventually(lambda: "Ben Okafor" not in members(pbx, "sales"), within=1.5)
    assert app.control.memberships(BEN) == []


async def test_time_boxed_pause_ends_on_time(app: App, pbx: Sandbox) -> None:
    app.scheduler.start()
    await say(app, BEN, "/joinqueue sales")
    await say(app, BEN, "/pause break for 2s")
    assert "paused:break" in members(pbx, "sales")["Ben Okafor"]

    await asyncio.sleep(2.0)
    await eventually(lambda: "paused" not in members(pbx, "sales")["Ben Okafor"], 1.5)


async def test_queues_tells_the_truth(app: App, pbx: Sandbox) -> None:
    await say(app, ANA, "/joinqueue sales")
    await say(app, BEN, "/joinqueue sales")
    await say(app, BEN, "/pause lunch")

    reply = await say(app, CLEO, "/queues")

    assert reply.ok
    tables = {block.title.split(" —")[0].strip("*"): block for block in reply.blocks}
    sales = dict(tables["Sales"].rows)
    assert sales == {"Ana Lima": "available", "Ben Okafor": "paused: lunch"}
    assert dict(tables["Support"].rows) == {"Static Sam (static)": "available"}
    assert tables["Billing"].rows == ()


async def test_me_shows_memberships_pauses_and_expiry(app: App) -> None:
    await say(app, ANA, "/joinqueue sales until 23:59")
    await say(app, ANA, "/pause lunch for 30m")

    reply = await say(app, ANA, "/me")

    assert "paused (lunch)" in reply.text
    queues = dict(reply.blocks[0].rows)
    assert queues["Sales"].startswith("in, until")
    layers = dict(reply.blocks[1].pairs)
    assert layers["Manual"].startswith("paused: lunch until")


async def test_whoison_lists_only_available_people(app: App) -> None:
    await say(app, ANA, "/joinqueue sales")
    await say(app, BEN, "/joinqueue sales")
    await say(app, BEN, "/pause lunch")

    reply = await say(app, ANA, "/whoison sales")

    assert "Ana Lima" in reply.text and "Ben Okafor" not in reply.text


async def test_help_lists_every_command_from_its_docstring(app: App) -> None:
    reply = await say(app, ANA, "/help")

    for name in (
        "joinqueue",
        "leavequeue",
        "pause",
        "unpause",
        "queues",
        "whoison",
        "me",
    ):
        assert f"/{name}" in reply.text
    detail = await say(app, ANA, "/help pause")
    assert "/pause lunch for 30m" in detail.text


async def test_long_multiline_reason_is_saved_as_asterisk_shows_it(
    app: App, pbx: Sandbox
) -> None:
    await say(app, ANA, "/joinqueue sales")

    reply = await say(app, ANA, "/pause " + "lunch\nbreak " + "y" * 600)

    reason = app.control.effective_pause(ANA).reason
    assert reply.ok and "\n" not in reply.text and len(reason) == 79
    assert reason.startswith("lunch break yyy")
    assert f"paused:{reason}" in members(pbx, "sales")["Ana Lima"]
    report = await app.control.reconcile("main")
    assert report.actions == 0, "a cut reason must not be sent again and again"


async def test_huge_duration_and_bare_number_are_refused(app: App) -> None:
    huge = await say(app, ANA, "/pause lunch for 1000000000000000000000h")
    bare = await say(app, ANA, "/pause until 3")

    assert not huge.ok and "longer than two weeks" in huge.text
    assert not bare.ok and "until 3:00" in bare.text
    assert app.control.pauses(ANA) == []


async def test_leaving_a_queue_you_are_not_in_says_so(app: App, pbx: Sandbox) -> None:
    await say(app, ANA, "/joinqueue sales")

    none = await say(app, ANA, "/leavequeue billing")
    some = await say(app, ANA, "/leavequeue sales billing")

    assert none.ok and none.text == "You weren't in billing."
    assert (
        "You've left sales." in some.text and "(You weren't in billing.)" in some.text
    )
    assert "Ana Lima" not in members(pbx, "sales")


async def test_static_member_leaving_everything_is_refused(app: App) -> None:
    reply = await say(app, "sam@shop.test", "/leavequeue")

    assert not reply.ok and "static" in reply.text


async def test_manager_replies_name_the_command_for_the_other_person(app: App) -> None:
    reply = await say(app, CLEO, f"/pause {BEN} coaching")
    joined = await say(app, CLEO, f"/joinqueue {BEN} sales")

    assert f"`/unpause {BEN}` to come back" in reply.text
    assert f"`/unpause {BEN}` to take calls" in joined.text
