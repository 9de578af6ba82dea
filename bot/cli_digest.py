"""`ccbot digest`: the digest as a terminal table, and optionally sent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from bot.calls import CallDb, queue_rules
from bot.config import Config
from bot.messages import render_text
from bot.store import Store
from handlers.digest import DigestSender, render_digest
from scheduler.digest import last_due

log = logging.getLogger(__name__)


async def print_digests(
    config: Config,
    queues: list[str],
    day: date | None,
    first: date | None,
    last: date | None,
    post: bool,
    echo: Callable[[str], None],
) -> bool:
    """Print each queue's digest; with ``post``, send it too. False if a send failed."""
    store = Store(config.store_path)  # migrates the schema on a fresh file
    db = CallDb(config.store_path)
    sender = DigestSender(config, db, None, store.get_person)
    try:
        days = {q: day or first or _default_day(config, q) for q in queues}
        for index, queue in enumerate(queues):
            built = await sender.build(queue, days[queue], last)
            if index:
                echo("")
            echo(render_text(render_digest(built)))
        return await _post(config, sender, days) if post else True
    finally:
        db.close()
        store.close()


def _default_day(config: Config, queue: str) -> date:
    rules = queue_rules(config, queue)
    report = config.settings.digest.report
    return last_due(datetime.now(UTC), rules.digest_time, rules.digest_timezone, report)


async def _post(config: Config, sender: DigestSender, days: dict[str, date]) -> bool:
    from bot.app import App

    app = App(config)
    try:
        await app.start_front_ends(serve=False)  # post only: no port, no socket
        if app.slack is None:
            log.error("no chat platform is configured ([slack]): nowhere to post")
            return False
        sender.chat = app.slack.chat
        results = [await sender.send(q, d, once=False) for q, d in days.items()]
        return all(results)
    finally:
        await app.close()
