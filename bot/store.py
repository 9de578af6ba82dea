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


def _v_calls(db: sqlite_utils.Database) -> None:
    """Call records, ring-no-answers, pause history, alerts and digests sent.

    Times are UTC epoch seconds (REAL): the KPI queries compare and bucket them
    in SQL, and covering indexes let a 30-day report read only index pages.
    """
    for statement in (
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY, pbx TEXT NOT NULL, uniqueid TEXT NOT NULL,
            queue TEXT NOT NULL, number TEXT, number_key TEXT, name TEXT,
            joined REAL NOT NULL, answered REAL, ended REAL, wait INTEGER,
            talk INTEGER, outcome TEXT, agent TEXT, agent_name TEXT,
            rung TEXT, missed_by TEXT, settled TEXT,
            UNIQUE (pbx, uniqueid, queue))""",
        # Covering indexes for the KPI queries: one range seek per outcome and
        # bucket, and per outcome and agent, so no query sorts or reads rows.
        "CREATE INDEX calls_kpi ON calls (queue, outcome, joined, wait, talk)",
        "CREATE INDEX calls_agent ON calls "
        "(queue, outcome, agent, joined, talk, agent_name)",
        "CREATE INDEX calls_number ON calls (number_key, joined)",
        "CREATE INDEX calls_joined ON calls (joined)",
        "CREATE INDEX calls_open ON calls (pbx) WHERE ended IS NULL",
        """CREATE TABLE rings (
            id INTEGER PRIMARY KEY, pbx TEXT, uniqueid TEXT, queue TEXT NOT NULL,
            interface TEXT, agent TEXT, member TEXT, at REAL NOT NULL,
            ring_ms INTEGER)""",
        "CREATE INDEX rings_queue_agent ON rings (queue, agent, at, member)",
        """CREATE TABLE member_pauses (
            id INTEGER PRIMARY KEY, pbx TEXT, queue TEXT NOT NULL,
            interface TEXT, agent TEXT, member TEXT, paused INTEGER NOT NULL,
            reason TEXT, at REAL NOT NULL)""",
        "CREATE INDEX member_pauses_queue_at ON member_pauses (queue, at)",
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY, pbx TEXT NOT NULL, uniqueid TEXT NOT NULL,
            queue TEXT NOT NULL, number_key TEXT, state TEXT NOT NULL,
            claimed_by TEXT, done_by TEXT, created REAL NOT NULL, updated REAL,
            refs TEXT, facts TEXT,
            UNIQUE (pbx, uniqueid, queue))""",
        "CREATE INDEX alerts_number ON alerts (number_key, state)",
        """CREATE TABLE digests_sent (
            queue TEXT NOT NULL, day TEXT NOT NULL, sent REAL NOT NULL,
            PRIMARY KEY (queue, day))""",
    ):
        db.execute(statement)


MIGRATIONS.append(_v_calls)


def _calendar_tables(db: sqlite_utils.Database) -> None:
    """Issue 4: the last good calendar per person, overrides, DM choice."""
    db.table("calendar_schedule").create(
        {
            "email": str,
            "source": str,
            "fetched": str,
            "intervals": str,
            "working_hours": str,
            "error": str,
            "error_at": str,
        },
        pk="email",
    )
    # `/unpause` during a meeting: the calendar layer stays off until `until`.
    db.table("calendar_overrides").create(
        {"email": str, "layer": int, "until": str, "since": str},
        pk=("email", "layer"),
    )
    db.table("calendar_prefs").create({"email": str, "notify": int}, pk="email")
    # Queues the calendar took someone out of (leave mode), to put them back.
    db.table("calendar_left").create(
        {"email": str, "queue": str, "until": str}, pk=("email", "queue")
    )
    # Working hours logged this person in until this moment (login mode).
    db.table("calendar_login").create({"email": str, "until": str}, pk="email")


MIGRATIONS.append(_calendar_tables)


def _slack_tables(db: sqlite_utils.Database) -> None:
    """Issue 3: Slack deliveries already handled, and Slack users' emails."""
    # A retried delivery carries the same key: it must never apply twice,
    # even across a restart.
    db.table("slack_deliveries").create({"key": str, "received": str}, pk="key")
    users = db.table("slack_users")
    users.create({"user_id": str, "email": str, "checked": str}, pk="user_id")
    users.create_index(["email"])


MIGRATIONS.append(_slack_tables)


def _intents_counter(db: sqlite_utils.Database) -> None:
    """A counter every change of desired state bumps: how `run` sees `say`.

    SQLite's data_version also moves for commits of other connections in the
    same process (the call tracker has its own), which made `run` reload and
    reconcile after every batch of call records.
    """
    db.execute(
        "CREATE TABLE intents (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "version INTEGER NOT NULL)"
    )
    db.execute("INSERT INTO intents (id, version) VALUES (1, 0)")


MIGRATIONS.append(_intents_counter)


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
        # WAL with NORMAL sync: a commit survives a crash of ccbot, and only a
        # power cut can lose the last moments; no fsync per event.
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.migrate()
        self._known_version = self.intent_version()
        self.refresh()

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

    def intent_version(self) -> int:
        row = self.db.execute("SELECT version FROM intents WHERE id = 1").fetchone()
        return int(row[0])

    def changed_elsewhere(self) -> bool:
        """True once for each change of desired state another process made."""
        current = self.intent_version()
        if current == self._known_version:
            return False
        self._known_version = current
        return True

    def _bump(self) -> None:
        """Count a change of desired state; call inside the write's transaction."""
        (version,) = self.db.execute(
            "UPDATE intents SET version = version + 1 WHERE id = 1 RETURNING version"
        ).fetchone()
        # Only our own step is known; a jump means another process wrote too.
        if version == self._known_version + 1:
            self._known_version = version

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.conn:
            yield

    def _write(self, sql: str, args: list[Any], intent: bool = False) -> int:
        with self.db.conn:
            count = self.db.execute(sql, args).rowcount
            if intent and count:
                self._bump()
            return count

    def close(self) -> None:
        self.db.close()

    # people

    def upsert_person(self, person: Person) -> bool:
        """Insert or update one person; True when the person is new."""
        existed = self.get_person(person.email) is not None
        with self.db.conn:
            self.db.table("people").upsert(_person_row(person), pk="email")
            self._bump()
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
            with self.db.conn:
                self.db.table("people").update(email, {column: value})
                self._bump()

    # desired state: memberships and pauses
    #
    # Both are read on every AMI member event and for every pair in a
    # reconcile, so they are mirrored in memory; every write goes to SQLite
    # first. `refresh` re-reads them when another process changed the file.

    def refresh(self) -> None:
        rows = self.db.table("memberships").rows_where(order_by="email, queue")
        self._memberships: dict[str, dict[str, Membership]] = {}
        for membership in map(_membership, rows):
            self._memberships.setdefault(membership.email, {})[membership.queue] = (
                membership
            )
        self._pauses: dict[str, dict[Layer, Pause]] = {}
        for pause in map(_pause, self.db.table("pauses").rows_where()):
            self._pauses.setdefault(pause.email, {})[pause.layer] = pause

    def memberships(self, email: str | None = None) -> list[Membership]:
        if email is not None:
            return sorted(
                self._memberships.get(email, {}).values(), key=lambda m: m.queue
            )
        return [
            m
            for who in sorted(self._memberships)
            for m in sorted(self._memberships[who].values(), key=lambda m: m.queue)
        ]

    def set_membership(self, membership: Membership, now: datetime) -> None:
        """Insert or update; a re-join keeps the original ``since``."""
        with self.db.conn:
            self.db.execute(
                "INSERT INTO memberships (email, queue, until, source, since) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (email, queue) DO UPDATE "
                "SET until = excluded.until, source = excluded.source",
                [
                    membership.email,
                    membership.queue,
                    to_text(membership.until),
                    membership.source,
                    to_text(now),
                ],
            )
            self._bump()
        self._memberships.setdefault(membership.email, {})[membership.queue] = (
            membership
        )

    def remove_membership(self, email: str, queue: str) -> bool:
        sql = "DELETE FROM memberships WHERE email = ? AND queue = ?"
        removed = self._write(sql, [email, queue], intent=True) > 0
        self._memberships.get(email, {}).pop(queue, None)
        return removed

    def pauses(self, email: str | None = None) -> list[Pause]:
        if email is not None:
            return sorted(self._pauses.get(email, {}).values(), key=lambda p: p.layer)
        return [
            p
            for who in sorted(self._pauses)
            for p in sorted(self._pauses[who].values(), key=lambda p: p.layer)
        ]

    def set_pause(self, pause: Pause, now: datetime) -> None:
        with self.db.conn:
            self.db.execute(
                "INSERT OR REPLACE INTO pauses "
                "(email, layer, reason, until, source, since) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    pause.email,
                    int(pause.layer),
                    pause.reason,
                    to_text(pause.until),
                    pause.source,
                    to_text(now),
                ],
            )
            self._bump()
        self._pauses.setdefault(pause.email, {})[pause.layer] = pause

    def clear_pause(self, email: str, layer: Layer) -> bool:
        sql = "DELETE FROM pauses WHERE email = ? AND layer = ?"
        removed = self._write(sql, [email, int(layer)], intent=True) > 0
        self._pauses.get(email, {}).pop(layer, None)
        return removed

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
            (s.queue, s.email, int(s.static), int(s.paused), s.reason) for s in present
        ]
        with self.db.conn:
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO seen (queue, email, static, paused, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self.db.conn.executemany(
                "DELETE FROM seen WHERE queue = ? AND email = ?", list(absent)
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
