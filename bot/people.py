"""The people list: CSV import and the checks every row must pass."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import PeopleSettings
from bot.domain import Person, Role
from bot.store import Store

COLUMNS = (
    "email",
    "name",
    "extension",
    "interface",
    "state_interface",
    "queues",
    "role",
    "timezone",
    "slack_id",
    "teams_id",
    "ics_url",
)

# Tech/resource, as Asterisk names a device: PJSIP/1001, Local/1001@from-queue/n.
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*/[^\s,|]+$")
# A state interface is a device, or a hint: hint:1001@ext-local.
_STATE_INTERFACE = re.compile(
    r"^(hint:[^\s@,|]+@[^\s,|]+|[A-Za-z][A-Za-z0-9_-]*/[^\s,|]+)$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def interface_problem(interface: str) -> str | None:
    if not _INTERFACE.match(interface):
        return f"interface {interface!r} is not Tech/resource (e.g. PJSIP/1001)"
    return None


def state_interface_problem(state_interface: str) -> str | None:
    if state_interface and not _STATE_INTERFACE.match(state_interface):
        return (
            f"state_interface {state_interface!r} is neither a device nor "
            "hint:EXTEN@CONTEXT"
        )
    return None


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        text = f"{self.added} added, {self.updated} updated"
        if self.problems:
            skipped = len(self.problems)
            text += f", {skipped} {'row' if skipped == 1 else 'rows'} skipped"
        return text


def person_from_row(
    row: dict[str, str], settings: PeopleSettings, queues: Iterable[str]
) -> Person:
    """Build a person from one CSV row, or raise ValueError naming the problem."""
    get = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}.get
    email = get("email", "").lower()
    if not _EMAIL.match(email):
        raise ValueError(f"email {email!r} is not an email address")
    name = get("name", "") or email.split("@")[0]

    extension = get("extension", "")
    interface = get("interface", "") or (
        settings.interface.format(extension=extension) if extension else ""
    )
    if not interface:
        raise ValueError("needs an extension or an interface")
    state_interface = get("state_interface", "")
    if not state_interface and extension and settings.state_interface:
        state_interface = settings.state_interface.format(extension=extension)
    for problem in (
        interface_problem(interface),
        state_interface_problem(state_interface),
    ):
        if problem:
            raise ValueError(problem)

    known = set(queues)
    wanted = tuple(q.strip() for q in get("queues", "").split(";") if q.strip())
    unknown = [q for q in wanted if q not in known]
    if unknown:
        raise ValueError(
            f"unknown queue {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )

    role_text = get("role", "") or "agent"
    try:
        role = Role(role_text.lower())
    except ValueError:
        raise ValueError(f"role {role_text!r} must be agent or manager") from None

    timezone = get("timezone", "") or settings.default_timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {timezone!r} is not an IANA time zone") from None

    return Person(
        email=email,
        name=name,
        interface=interface,
        state_interface=state_interface,
        queues=wanted,
        role=role,
        timezone=timezone,
        slack_id=get("slack_id", ""),
        teams_id=get("teams_id", ""),
        ics_url=get("ics_url", ""),
    )


def import_csv(
    path: Path, store: Store, settings: PeopleSettings, queues: Iterable[str]
) -> ImportReport:
    report = ImportReport()
    known = list(queues)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "email" not in [
            f.strip().lower() for f in reader.fieldnames
        ]:
            report.problems.append("the header row needs an 'email' column")
            return report
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            try:
                person = person_from_row(row, settings, known)
            except ValueError as exc:
                report.problems.append(f"line {line}: {exc}")
                continue
            if person.email in seen:
                report.problems.append(f"line {line}: {person.email} appears twice")
                continue
            seen.add(person.email)
            if store.upsert_person(person):
                report.added += 1
            else:
                report.updated += 1
    return report
