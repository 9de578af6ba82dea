"""The decision table of reconcile: adopt outside changes, apply our intents."""

from __future__ import annotations

from bot.domain import Member, Person
from bot.protocols import AddMember, PauseMember, RemoveMember
from bot.reconcile import Want, decide
from bot.store import Seen

ANA = Person("ana@shop.test", "Ana", "PJSIP/1001", "hint:1001@ext-local")
IN = Want(member=True, paused=False, reason="")
OUT = Want(member=False, paused=False, reason="")
LUNCH = Want(member=True, paused=True, reason="lunch")


def member(paused: bool = False, reason: str = "", static: bool = False) -> Member:
    return Member(
        "sales", "PJSIP/1001", "Ana", paused=paused, reason=reason, static=static
    )


def seen(paused: bool = False, reason: str = "", static: bool = False) -> Seen:
    return Seen("sales", ANA.email, static, paused, reason)


def test_wanted_member_missing_is_added_with_its_pause() -> None:
    decision = decide(ANA, "sales", LUNCH, None, None)

    assert decision.actions == (
        AddMember("sales", "PJSIP/1001", "Ana", "hint:1001@ext-local", True, "lunch"),
    )


def test_unwanted_member_seen_before_is_removed() -> None:
    decision = decide(ANA, "sales", OUT, seen(), member())

    assert decision.actions == (RemoveMember("sales", "PJSIP/1001"),)
    assert decision.adopt_member is None


def test_member_added_outside_ccbot_is_adopted() -> None:
    decision = decide(ANA, "sales", OUT, None, member())

    assert decision.adopt_member is True and decision.actions == ()


def test_member_removed_outside_ccbot_is_adopted() -> None:
    decision = decide(ANA, "sales", IN, seen(), None)

    assert decision.adopt_member is False and decision.actions == ()


def test_pause_from_the_phone_is_adopted() -> None:
    decision = decide(ANA, "sales", IN, seen(), member(paused=True, reason="Desk"))

    assert decision.adopt_pause == (True, "Desk") and decision.actions == ()


def test_our_pause_not_yet_applied_is_sent() -> None:
    decision = decide(ANA, "sales", LUNCH, seen(), member())

    assert decision.actions == (PauseMember("sales", "PJSIP/1001", True, "lunch"),)


def test_changed_reason_is_sent() -> None:
    decision = decide(ANA, "sales", LUNCH, seen(True, "x"), member(True, "x"))

    assert decision.actions == (PauseMember("sales", "PJSIP/1001", True, "lunch"),)


def test_static_member_is_never_removed_but_is_paused() -> None:
    static = member(static=True)

    assert decide(ANA, "sales", OUT, seen(static=True), static).actions == ()
    paused = decide(ANA, "sales", LUNCH, seen(static=True), static)
    assert paused.actions == (PauseMember("sales", "PJSIP/1001", True, "lunch"),)


def test_nothing_to_do_when_all_agree() -> None:
    decision = decide(ANA, "sales", LUNCH, seen(True, "lunch"), member(True, "lunch"))

    assert decision.actions == () and decision.adopt_member is None
    assert decision.adopt_pause is None
