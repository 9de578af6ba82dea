"""SQLite storage through sqlite-utils: a real file, WAL mode, versioned schema."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.domain import Layer, Membership, Pause, Person, Role

log = logging.getLogger(__name__)


def _v1(db: sqlite_utils.Database) -> None:
    db.table("people").create(
        {
            "email": str,
            "name": str,
            "interface": str,
            "state_interface": str,
            "queues": str,
            "role": str,
            "timezone": str,
            "slack_id": str,
            "teams_id": str,
            "ics_url": str,
        },
        pk="email",
    )
    db.table("people").create_index(["interface"])
    db.table("memberships").create(
        {"email": str, "queue": str, "until": str, "source": str, "since": str},
        pk=("email", "queue"),
    )
    db.table("pauses").create(
        {
            "email": str,
            "layer": int,
            "reason": str,
            "until": str,
            "source": str,
            "since": str,
        },
        pk=("email", "layer"),
    )
    # What ccbot last saw in Asterisk: the base that tells an outside change
    # (adopt it) from an intent of ours not yet applied (apply it).
    db.table("seen").create(
        {
            "queue": str,
            "email": str,
            "static": int,
            "paused": int,
            "reason": str,
        },
        pk=("queue", "email"),
    )
    db.table("pbx_state").create({"pbx": str, "startup": str}, pk="pbx")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


@dataclass(frozen=True)
class Seen:
    """One member as ccbot last saw it in Asterisk."""

    queue: str
    email: str
    static: bool = False
    paused: bool = False
    reason: str = ""


def to_text(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def from_text(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA busy_timeout = 5000")
        self.db.enable_wal()
        self.migrate()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        current = self.version
        for number, step in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.db.conn:
                step(self.db)
                self.db.execute(f"PRAGMA user_version = {number}")
            log.info("store %s migrated to schema version %s", self.path, number)

    def data_version(self) -> int:
        """Changes whenever another connection commits: how `run` sees `say`."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.conn:
            yield

    def _write(self, sql: str, args: list[Any]) -> int:
        with self.db.conn:
            return self.db.execute(sql, args).rowcount

    def close(self) -> None:
        self.db.close()

    # people

    def upsert_person(self, person: Person) -> bool:
        """Insert or update one person; True when the person is new."""
        existed = self.get_person(person.email) is not None
        self.db.table("people").upsert(_person_row(person), pk="email")
        return not existed

    def get_person(self, email: str) -> Person | None:
        rows = self.db.table("people").rows_where("email = ? COLLATE NOCASE", [email])
        return next((_person(row) for row in rows), None)

    def person_by(self, column: str, value: str) -> Person | None:
        if column not in {"slack_id", "teams_id", "interface"} or not value:
            return None
        rows = self.db.table("people").rows_where(f"{column} = ?", [value], limit=1)
        return next((_person(row) for row in rows), None)

    def people(self) -> list[Person]:
        return [
            _person(row) for row in self.db.table("people").rows_where(order_by="name")
        ]

    def set_chat_id(self, email: str, column: str, value: str) -> None:
        if column in {"slack_id", "teams_id"}:
            self.db.table("people").update(email, {column: value})

    # desired memberships

    def memberships(self, email: str | None = None) -> list[Membership]:
        where, args = ("email = ?", [email]) if email else (None, [])
        rows = self.db.table("memberships").rows_where(
            where, args, order_by="email, queue"
        )
        return [_membership(row) for row in rows]

    def set_membership(self, membership: Membership, now: datetime) -> None:
        row = {
            "email": membership.email,
            "queue": membership.queue,
            "until": to_text(membership.until),
            "source": membership.source,
            "since": to_text(now),
        }
        existing = self.db.execute(
            "SELECT since FROM memberships WHERE email = ? AND queue = ?",
            [membership.email, membership.queue],
        ).fetchone()
        if existing:
            row["since"] = existing[0]
        self.db.table("memberships").upsert(row, pk=("email", "queue"))

    def remove_membership(self, email: str, queue: str) -> bool:
        sql = "DELETE FROM memberships WHERE email = ? AND queue = ?"
        return self._write(sql, [email, queue]) > 0

    # desired pauses, one per layer

    def pauses(self, email: str | None = None) -> list[Pause]:
        where, args = ("email = ?", [email]) if email else (None, [])
        rows = self.db.table("pauses").rows_where(where, args, order_by="email, layer")
        return [_pause(row) for row in rows]

    def set_pause(self, pause: Pause, now: datetime) -> None:
        self.db.table("pauses").upsert(
            {
                "email": pause.email,
                "layer": int(pause.layer),
                "reason": pause.reason,
                "until": to_text(pause.until),
                "source": pause.source,
                "since": to_text(now),
            },
            pk=("email", "layer"),
        )

    def clear_pause(self, email: str, layer: Layer) -> bool:
        sql = "DELETE FROM pauses WHERE email = ? AND layer = ?"
        return self._write(sql, [email, int(layer)]) > 0

    # what Asterisk last showed

    def seen(self, queues: Iterable[str]) -> dict[tuple[str, str], Seen]:
        names = list(queues)
        if not names:
            return {}
        marks = ", ".join("?" for _ in names)
        rows = self.db.execute(
            f"SELECT queue, email, static, paused, reason FROM seen "
            f"WHERE queue IN ({marks})",
            names,
        ).fetchall()
        return {
            (row[0], row[1]): Seen(row[0], row[1], bool(row[2]), bool(row[3]), row[4])
            for row in rows
        }

    def save_seen(
        self, present: Iterable[Seen], absent: Iterable[tuple[str, str]]
    ) -> None:
        rows = [
            {
                "queue": s.queue,
                "email": s.email,
                "static": int(s.static),
                "paused": int(s.paused),
                "reason": s.reason,
            }
            for s in present
        ]
        if rows:
            self.db.table("seen").upsert_all(rows, pk=("queue", "email"))
        gone = list(absent)
        if gone:
            with self.db.conn:
                self.db.conn.executemany(
                    "DELETE FROM seen WHERE queue = ? AND email = ?", gone
                )

    def forget_dynamic(self, queues: Iterable[str]) -> None:
        """After an Asterisk restart its dynamic members are gone."""
        names = list(queues)
        marks = ", ".join("?" for _ in names)
        self._write(f"DELETE FROM seen WHERE static = 0 AND queue IN ({marks})", names)

    def pbx_startup(self, pbx: str) -> str | None:
        row = self.db.execute(
            "SELECT startup FROM pbx_state WHERE pbx = ?", [pbx]
        ).fetchone()
        return row[0] if row else None

    def set_pbx_startup(self, pbx: str, startup: str) -> None:
        self.db.table("pbx_state").upsert({"pbx": pbx, "startup": startup}, pk="pbx")


def _person_row(person: Person) -> dict[str, Any]:
    return {
        "email": person.email,
        "name": person.name,
        "interface": person.interface,
        "state_interface": person.state_interface,
        "queues": ";".join(person.queues),
        "role": person.role.value,
        "timezone": person.timezone,
        "slack_id": person.slack_id,
        "teams_id": person.teams_id,
        "ics_url": person.ics_url,
    }


def _person(row: dict[str, Any]) -> Person:
    return Person(
        email=row["email"],
        name=row["name"],
        interface=row["interface"],
        state_interface=row["state_interface"] or "",
        queues=tuple(q for q in (row["queues"] or "").split(";") if q),
        role=Role(row["role"]),
        timezone=row["timezone"] or "UTC",
        slack_id=row["slack_id"] or "",
        teams_id=row["teams_id"] or "",
        ics_url=row["ics_url"] or "",
    )


def _membership(row: dict[str, Any]) -> Membership:
    return Membership(
        email=row["email"],
        queue=row["queue"],
        until=from_text(row["until"]),
        source=row["source"],
    )


def _pause(row: dict[str, Any]) -> Pause:
    return Pause(
        email=row["email"],
        layer=Layer(row["layer"]),
        reason=row["reason"],
        until=from_text(row["until"]),
        source=row["source"],
    )
