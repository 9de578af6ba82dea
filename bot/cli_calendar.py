"""`ccbot calendar show`: one person's day as ccbot sees it, read fresh."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.app import calendar_source
from bot.availability import CalendarBook, day_end, describe_day
from bot.config import Config
from bot.control import utcnow
from bot.domain import Person
from bot.errors import CalendarUnavailable
from bot.messages import render_text
from bot.protocols import CalendarSource, PersonCalendar
from bot.store import Store

EXIT_DONE, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


async def show_calendar(config: Config, email: str, echo: Callable[[str], None]) -> int:
    store = Store(config.store_path)
    try:
        person = store.get_person(email)
        if person is None:
            echo(f"No one with the email {email} is in the people list.")
            return EXIT_USAGE
        source = calendar_source(config)
        if source is None:
            echo('No calendar source is set: [calendar] source = "graph" or "ics".')
            return EXIT_USAGE
        now = utcnow()
        calendar, note = await _read(source, person, now, store)
        if calendar is None:
            echo(f"Couldn't read {email}'s calendar ({note}), and none is saved yet.")
            return EXIT_REFUSED
        rules = config.settings.calendar
        echo(render_text(describe_day(person, calendar, rules, now, note)))
        return EXIT_DONE
    finally:
        store.close()


async def _read(
    source: CalendarSource, person: Person, now: datetime, store: Store
) -> tuple[PersonCalendar | None, str]:
    """A fresh read, else the last good schedule with a note saying so."""
    try:
        found = await source.fetch([person], now, day_end(now, person.timezone))
        fresh = found.get(person.email)
        error = fresh.error if fresh else "no calendar for this person"
    except CalendarUnavailable as exc:
        fresh, error = None, str(exc)
    finally:
        await source.close()
    if fresh is not None and not fresh.error:
        return fresh, ""
    saved = CalendarBook(store).schedule(person.email)
    if saved is None:
        return None, error
    return saved.calendar, f"Couldn't read it now ({error}): showing the last saved."
