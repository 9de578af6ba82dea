"""Asterisk queue and channel events to the core's call events.

Asterisk 22 sends QueueCallerAbandon for a real abandon and for a queue
timeout alike; only the caller channel's hangup tells them apart: on an
abandon its HangupRequest (or Hangup) comes before QueueCallerAbandon, on a
timeout the caller is still up. So hangups are noted, but only for channels
that are waiting in a queue, to keep the per-event work tiny.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from bot.calls import (
    AgentRung,
    CallAnswered,
    CallCompleted,
    CallerJoined,
    CallerLeft,
    CallEvent,
    CallTracker,
    CallTransferred,
    MemberPaused,
    Outcome,
    RingUnanswered,
)

log = logging.getLogger(__name__)

AUTO_PAUSE_REASON = "Auto-Pause"  # what app_queue writes when autopause fires


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes"}


class CallEvents:
    """The ``AmiPbx.on_event`` hook: one instance per phone system."""

    def __init__(
        self,
        pbx: str,
        tracker: CallTracker,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pbx = pbx
        self.tracker = tracker
        self.clock = clock
        self._hung_up: set[str] = set()  # waiting callers whose channel hung up
        self._answering: set[str] = set()  # waiting callers an agent picked up
        self._handlers: dict[str, Callable[[Mapping[str, Any], float], None]] = {
            "queuecallerjoin": self._join,
            "agentcalled": self._called,
            "agentringnoanswer": self._ring_no_answer,
            "agentconnect": self._connect,
            "agentcomplete": self._complete,
            "queuecallerabandon": self._abandon,
            "queuecallerleave": self._leave,
            "hangup": self._hangup,
            "hanguprequest": self._hangup,
            "softhanguprequest": self._hangup,
            "dialend": self._dial_end,
            "blindtransfer": self._transfer,
            "attendedtransfer": self._transfer,
            "queuememberpause": self._pause,
            "queuememberadded": self._added,
            "queuememberremoved": self._removed,
        }

    def __call__(self, message: Mapping[str, Any]) -> None:
        name = str(message.get("Event", "")).lower()
        handler = self._handlers.get(name)
        if handler is None:
            return
        try:
            handler(message, self._at(message))
        except Exception:
            log.exception("%s: could not read a %s event", self.pbx, name)

    def _at(self, message: Mapping[str, Any]) -> float:
        # manager.conf timestampevents adds a Timestamp; else the time it arrived.
        stamp = message.get("Timestamp")
        if stamp:
            try:
                return float(str(stamp))
            except ValueError:
                pass
        return self.clock()

    def _emit(self, event: CallEvent) -> None:
        self.tracker.handle(event)

    @staticmethod
    def _caller_id(message: Mapping[str, Any], key: str) -> str:
        value = str(message.get(key, "") or "")
        return "" if value == "<unknown>" else value

    def _join(self, m: Mapping[str, Any], at: float) -> None:
        self._emit(
            CallerJoined(
                self.pbx,
                str(m.get("Uniqueid", "")),
                str(m.get("Queue", "")),
                self._caller_id(m, "CallerIDNum"),
                self._caller_id(m, "CallerIDName"),
                at,
            )
        )

    def _called(self, m: Mapping[str, Any], at: float) -> None:
        self._emit(
            AgentRung(
                self.pbx,
                str(m.get("Uniqueid", "")),
                str(m.get("Queue", "")),
                str(m.get("Interface", "")),
                str(m.get("MemberName", "")),
                at,
            )
        )

    def _ring_no_answer(self, m: Mapping[str, Any], at: float) -> None:
        self._emit(
            RingUnanswered(
                self.pbx,
                str(m.get("Uniqueid", "")),
                str(m.get("Queue", "")),
                str(m.get("Interface", "")),
                str(m.get("MemberName", "")),
                _int(m.get("RingTime", "0")),
                at,
            )
        )

    def _connect(self, m: Mapping[str, Any], at: float) -> None:
        uniqueid = str(m.get("Uniqueid", ""))
        self._forget(uniqueid)
        self._emit(
            CallAnswered(
                self.pbx,
                uniqueid,
                str(m.get("Queue", "")),
                str(m.get("Interface", "")),
                str(m.get("MemberName", "")),
                _int(m.get("HoldTime", "0")),
                at,
            )
        )

    def _complete(self, m: Mapping[str, Any], at: float) -> None:
        self._emit(
            CallCompleted(
                self.pbx,
                str(m.get("Uniqueid", "")),
                str(m.get("Queue", "")),
                _int(m.get("TalkTime", "0")),
                str(m.get("Reason", "")).lower() == "transfer",
                at,
            )
        )

    def _abandon(self, m: Mapping[str, Any], at: float) -> None:
        uniqueid = str(m.get("Uniqueid", ""))
        outcome = Outcome.ABANDONED if uniqueid in self._hung_up else Outcome.UNANSWERED
        self._forget(uniqueid)
        self._emit(
            CallerLeft(
                self.pbx,
                uniqueid,
                str(m.get("Queue", "")),
                outcome,
                _int(m.get("HoldTime", "0")),
                at,
            )
        )

    def _leave(self, m: Mapping[str, Any], at: float) -> None:
        """QueueCallerLeave also precedes AgentConnect; only a leave nobody
        picked up (full, empty queue, exit key) settles the call here."""
        uniqueid = str(m.get("Uniqueid", ""))
        if uniqueid in self._answering or not self.tracker.is_waiting(
            self.pbx, uniqueid
        ):
            return
        outcome = Outcome.ABANDONED if uniqueid in self._hung_up else Outcome.UNANSWERED
        self._forget(uniqueid)
        self._emit(
            CallerLeft(self.pbx, uniqueid, str(m.get("Queue", "")), outcome, None, at)
        )

    def _hangup(self, m: Mapping[str, Any], at: float) -> None:
        uniqueid = str(m.get("Uniqueid", ""))
        if self.tracker.is_waiting(self.pbx, uniqueid):
            self._hung_up.add(uniqueid)

    def _dial_end(self, m: Mapping[str, Any], at: float) -> None:
        if str(m.get("DialStatus", "")).upper() != "ANSWER":
            return
        uniqueid = str(m.get("Uniqueid", ""))
        if uniqueid and self.tracker.is_waiting(self.pbx, uniqueid):
            self._answering.add(uniqueid)

    def _transfer(self, m: Mapping[str, Any], at: float) -> None:
        for key in (
            "TransfereeUniqueid",
            "TransfererUniqueid",
            "OrigTransfererUniqueid",
        ):
            uniqueid = str(m.get(key, "") or "")
            if uniqueid:
                self._emit(CallTransferred(self.pbx, uniqueid, at))

    def _pause(self, m: Mapping[str, Any], at: float) -> None:
        reason = str(m.get("PausedReason") or m.get("Reason") or "")
        paused = _flag(m.get("Paused", "0"))
        self._emit(
            MemberPaused(
                self.pbx,
                str(m.get("Queue", "")),
                str(m.get("Interface", "")),
                str(m.get("MemberName", "")),
                paused,
                reason if paused else "",
                at,
                auto=paused and reason == AUTO_PAUSE_REASON,
            )
        )

    def _added(self, m: Mapping[str, Any], at: float) -> None:
        if _flag(m.get("Paused", "0")):
            self._pause(m, at)

    def _removed(self, m: Mapping[str, Any], at: float) -> None:
        # Leaving the queue ends any pause there, for time-paused-by-reason.
        if _flag(m.get("Paused", "0")):
            self._emit(
                MemberPaused(
                    self.pbx,
                    str(m.get("Queue", "")),
                    str(m.get("Interface", "")),
                    str(m.get("MemberName", "")),
                    False,
                    "",
                    at,
                )
            )

    def _forget(self, uniqueid: str) -> None:
        self._hung_up.discard(uniqueid)
        self._answering.discard(uniqueid)
