"""AMI messages to core values, and core actions to AMI actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.domain import REASON_LIMIT, Caller, Member, QueueSnapshot
from bot.errors import (
    AlreadyDone,
    NoSuchQueue,
    NotAMember,
    PbxRefused,
    StaticMember,
)
from bot.protocols import Action, AddMember, PauseMember, RemoveMember

MEMBER_EVENTS = frozenset(
    {"queuememberadded", "queuememberremoved", "queuememberpause", "queuememberstatus"}
)


def clean(value: str, limit: int = 200) -> str:
    """A header value that cannot break the AMI framing: no CR, LF or NUL."""
    text = " ".join(str(value).replace("\0", " ").splitlines()).strip()
    return text[:limit]


def to_ami(action: Action) -> dict[str, str]:
    match action:
        case AddMember():
            fields = {
                "Action": "QueueAdd",
                "Queue": clean(action.queue),
                "Interface": clean(action.interface),
                "MemberName": clean(action.name),
                "Paused": "true" if action.paused else "false",
            }
            if action.state_interface:
                fields["StateInterface"] = clean(action.state_interface)
            if action.paused and action.reason:
                fields["Reason"] = clean(action.reason, REASON_LIMIT)
            return fields
        case RemoveMember():
            return {
                "Action": "QueueRemove",
                "Queue": clean(action.queue),
                "Interface": clean(action.interface),
            }
        case PauseMember():
            fields = {
                "Action": "QueuePause",
                "Queue": clean(action.queue),
                "Interface": clean(action.interface),
                "Paused": "true" if action.paused else "false",
            }
            if action.paused and action.reason:
                fields["Reason"] = clean(action.reason, REASON_LIMIT)
            return fields
    raise AssertionError(action)


def refusal(action: Action, message: str) -> PbxRefused:
    """Turn an AMI error response into a core error with clear text."""
    text = message.lower()
    queue = action.queue
    if "no such queue" in text:
        return NoSuchQueue(f"Asterisk has no queue named {queue}")
    if "already there" in text:
        return AlreadyDone(f"already a member of {queue}")
    if "not there" in text:
        return AlreadyDone(f"not a member of {queue}")
    if "not dynamic" in text:
        return StaticMember(queue)
    if "interface not found" in text:
        return NotAMember(f"not a member of {queue}")
    if "permission denied" in text:
        return PbxRefused("the AMI user may not do this: give it write = agent,all")
    return PbxRefused(f"Asterisk said: {message}")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes"}


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def member_from(message: Mapping[str, Any], queue: str | None = None) -> Member:
    """A QueueMember response or a QueueMember* event as a core Member."""
    get = message.get
    return Member(
        queue=queue or str(get("Queue", "")),
        interface=str(get("Interface") or get("Location") or ""),
        name=str(get("MemberName") or get("Name") or ""),
        state_interface=str(get("StateInterface", "")),
        static=str(get("Membership", "")).lower() == "static",
        paused=_flag(get("Paused", "0")),
        reason=str(get("PausedReason") or get("Reason") or ""),
        in_call=_flag(get("InCall", "0")),
        status=_int(get("Status", "0")),
    )


def caller_from(message: Mapping[str, Any]) -> Caller:
    get = message.get
    return Caller(
        queue=str(get("Queue", "")),
        uniqueid=str(get("Uniqueid", "")),
        number=str(get("CallerIDNum", "")),
        name=str(get("CallerIDName", "")),
        wait=_int(get("Wait", "0")),
        position=_int(get("Position", "0")),
    )


def snapshot_from(messages: Iterable[Mapping[str, Any]]) -> dict[str, QueueSnapshot]:
    """The QueueStatus event list as one snapshot per queue."""
    queues: dict[str, QueueSnapshot] = {}
    for message in messages:
        event = str(message.get("Event", "")).lower()
        name = str(message.get("Queue", ""))
        if not event or not name:
            continue
        queue = queues.setdefault(name, QueueSnapshot(name))
        if event == "queueparams":
            queue.completed = _int(message.get("Completed"))
            queue.abandoned = _int(message.get("Abandoned"))
        elif event == "queuemember":
            member = member_from(message, name)
            queue.members[member.interface] = member
        elif event == "queueentry":
            queue.callers.append(caller_from(message))
    return queues
