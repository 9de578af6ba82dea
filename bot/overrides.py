"""Overrides of the automatic layers: `/unpause` during a meeting or a call.

Kept apart from the availability rules so that the core's Control can record
an override without knowing how calendars are read.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain import Layer
from bot.store import Store, from_text, to_text

TABLE = "calendar_overrides"


def set_override(
    store: Store, email: str, layer: Layer, until: datetime | None, now: datetime
) -> None:
    """Keep ``layer`` off for ``email`` until ``until`` (None: until it lets go)."""
    store.db.table(TABLE).upsert(
        {
            "email": email,
            "layer": int(layer),
            "until": to_text(until),
            "since": to_text(now),
        },
        pk=("email", "layer"),
    )


def override_until(
    store: Store, email: str, layer: Layer, now: datetime
) -> tuple[bool, datetime | None]:
    """Whether an override holds now, and until when (None: open-ended)."""
    row = store.db.execute(
        f"SELECT until FROM {TABLE} WHERE email = ? AND layer = ?",
        [email, int(layer)],
    ).fetchone()
    if row is None:
        return False, None
    until = from_text(row[0])
    if until is not None and until <= now:
        return False, None
    return True, until


def clear_override(store: Store, email: str, layer: Layer) -> None:
    with store.db.conn:
        store.db.execute(
            f"DELETE FROM {TABLE} WHERE email = ? AND layer = ?", [email, int(layer)]
        )
