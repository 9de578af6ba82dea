"""`ccbot`: run the bot, talk to it from a terminal, and the admin's tools."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any

import click

from bot import config as config_module
from bot.config import Config
from bot.errors import ConfigError
from handlers.text import plural

EXIT_DONE, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def _setup_logging(verbose: int, default: str) -> None:
    level = {0: default.upper(), 1: "INFO"}.get(verbose, "DEBUG")
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # panoramisk logs every reconnect attempt at error level; ccbot says it once.
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _load(ctx: click.Context) -> Config:
    try:
        return config_module.load(ctx.obj["config"])
    except ConfigError as exc:
        path = config_module.find_path(ctx.obj["config"])
        click.echo(
            f"ccbot can't start: {path} has {plural(len(exc.problems), 'problem')}:",
            err=True,
        )
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        ctx.exit(EXIT_USAGE)
        raise AssertionError from exc  # unreachable: ctx.exit raises


def _run[T](work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(work())


@click.group()
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="TOML file (default $CCBOT_CONFIG, else ./ccbot.toml).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """ccbot: Asterisk call queues from Slack, Teams and the terminal."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path
    ctx.obj["verbose"] = verbose


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run every adapter the config enables, until Ctrl-C."""
    config = _load(ctx)
    _setup_logging(ctx.obj["verbose"], config.settings.log_level)
    from bot.app import AlreadyRunning, App, hold_run_lock

    try:
        lock = hold_run_lock(config.store_path)
    except AlreadyRunning as exc:
        click.echo(f"ccbot can't start: {exc}", err=True)
        ctx.exit(EXIT_REFUSED)

    async def serve() -> None:
        app = App(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await app.run(stop)
        finally:
            await app.close()

    with lock:
        _run(serve)


async def _one_shot(config: Config, email: str, line: str) -> tuple[str, bool]:
    from bot.app import App
    from bot.messages import render_text

    app = App(config)
    try:
        await app.connect(wait=config.settings.pbx[0].connect_timeout)
        await app.control.expire_due()
        reply = await app.commands.handle(email, line)
        return render_text(reply), reply.ok
    finally:
        await app.close()


@main.command()
@click.option(
    "--as", "email", required=True, metavar="EMAIL", help="The person speaking."
)
@click.argument("text", nargs=-1, required=True)
@click.pass_context
def say(ctx: click.Context, email: str, text: tuple[str, ...]) -> None:
    """Run one chat command as EMAIL and print the reply.

    Exit status: 0 done, 1 refused or failed, 2 bad usage.
    """
    if "@" not in email:
        raise click.BadParameter("give the person's email address", param_hint="--as")
    config = _load(ctx)
    # A one-shot command speaks through its reply; the log only for -v.
    _setup_logging(ctx.obj["verbose"], "error")
    output, ok = _run(lambda: _one_shot(config, email, " ".join(text)))
    click.echo(output)
    ctx.exit(EXIT_DONE if ok else EXIT_REFUSED)


@main.command()
@click.option(
    "--as", "email", required=True, metavar="EMAIL", help="The person speaking."
)
@click.pass_context
def chat(ctx: click.Context, email: str) -> None:
    """Chat with ccbot in the terminal as EMAIL (/quit or Ctrl-D to leave)."""
    config = _load(ctx)
    _setup_logging(ctx.obj["verbose"], "error")
    from integrations.console.chat import chat_loop

    known = _run(lambda: chat_loop(config, email))
    ctx.exit(EXIT_DONE if known else EXIT_REFUSED)


@main.group()
def people() -> None:
    """The people list."""


@people.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def people_import(ctx: click.Context, file: Path | None) -> None:
    """Import or update people from a CSV file (default: the config's csv)."""
    config = _load(ctx.find_root())
    _setup_logging(ctx.find_root().obj["verbose"], "warning")
    from bot.people import import_csv
    from bot.store import Store

    path = file or config.people_csv
    if not path.exists():
        click.echo(f"No such file: {path}", err=True)
        ctx.exit(EXIT_USAGE)
    store = Store(config.store_path)
    report = import_csv(path, store, config.settings.people, config.queues)
    for problem in report.problems:
        click.echo(f"{path}: {problem}", err=True)
    click.echo(f"Imported {path}: {report.summary}.")
    ctx.exit(EXIT_REFUSED if report.problems else EXIT_DONE)


@people.command("list")
@click.pass_context
def people_list(ctx: click.Context) -> None:
    """Everyone ccbot knows, with their interface and default queues."""
    config = _load(ctx.find_root())
    from bot.messages import Reply, Table, render_text
    from bot.store import Store

    store = Store(config.store_path)
    rows = tuple(
        (
            p.email,
            p.name,
            p.role.value,
            p.interface,
            ";".join(p.queues) or "-",
            p.timezone,
        )
        for p in store.people()
    )
    table = Table(
        "",
        ("Email", "Name", "Role", "Interface", "Queues", "Time zone"),
        rows,
        empty="Nobody yet: `ccbot people import FILE.csv`.",
    )
    title = f"{plural(len(rows), 'person')} in {config.store_path.name}:"
    click.echo(render_text(Reply(text=title, blocks=(table,))))


@main.command()
@click.pass_context
def queues(ctx: click.Context) -> None:
    """Every queue as Asterisk reports it, as in /queues."""
    config = _load(ctx)
    _setup_logging(ctx.obj["verbose"], "warning")

    async def show() -> str:
        from bot.app import App
        from bot.messages import render_text
        from handlers.status import queues_reply

        app = App(config)
        try:
            await app.connect(wait=config.settings.pbx[0].connect_timeout)
            return render_text(await queues_reply(app.control, None))
        finally:
            await app.close()

    click.echo(_run(show))


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check what ccbot is connected to, and say what is wrong."""
    config = _load(ctx)
    _setup_logging(ctx.obj["verbose"], "critical")
    from bot.doctor import run_checks

    lines, problems = _run(lambda: run_checks(config))
    if config.settings.slack is not None:
        from integrations.slack.doctor import check_slack

        slack_lines, slack_problems = _run(lambda: check_slack(config))
        lines, problems = [*lines, *slack_lines], problems + slack_problems
    for line in lines:
        click.echo(line)
    click.echo(f"\n{plural(problems, 'problem')} found." if problems else "\nAll good.")
    ctx.exit(EXIT_REFUSED if problems else EXIT_DONE)


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-12-03",
            param_hint=option,
        ) from None


@main.command()
@click.option("--queue", "queue_name", metavar="QUEUE", help="One queue (default all).")
@click.option(
    "--date", "on", metavar="YYYY-MM-DD", help="One day (default: the last due)."
)
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day of a span.")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last day of a span.")
@click.option("--post", is_flag=True, help="Also send it where the digest goes.")
@click.pass_context
def digest(
    ctx: click.Context,
    queue_name: str | None,
    on: str | None,
    first: str | None,
    last: str | None,
    post: bool,
) -> None:
    """Print each queue's digest: calls, service level, waits, agents.

    Exit status: 0 done, 1 posting failed, 2 bad usage.
    """
    config = _load(ctx)
    _setup_logging(ctx.obj["verbose"], "warning")
    day, start, end = _day(on, "--date"), _day(first, "--from"), _day(last, "--to")
    if day and (start or end):
        raise click.UsageError("Give either --date or --from/--to, not both.")
    if (start is None) != (end is None) or (start and end and end < start):
        raise click.UsageError(
            "A span needs both --from and --to, and --to may not be before --from."
        )
    if post and start:
        raise click.UsageError("--post sends one day's digest: use --date.")
    by_lower = {name.lower(): name for name in config.queues}
    queue_name = by_lower.get(queue_name.lower(), queue_name) if queue_name else None
    if queue_name and queue_name not in config.queues:
        raise click.UsageError(
            f"No queue {queue_name!r}. Queues: {', '.join(sorted(config.queues))}."
        )
    queues = [queue_name] if queue_name else list(config.queues)
    from bot.cli_digest import print_digests

    ok = _run(lambda: print_digests(config, queues, day, start, end, post, click.echo))
    ctx.exit(EXIT_DONE if ok else EXIT_REFUSED)


@main.group()
def calendar() -> None:
    """What ccbot reads from calendars."""


@calendar.command("show")
@click.option(
    "--as", "email", required=True, metavar="EMAIL", help="The person to look at."
)
@click.pass_context
def calendar_show(ctx: click.Context, email: str) -> None:
    """Print EMAIL's calendar for the rest of the day, and why each entry pauses.

    Exit status: 0 done, 1 the calendar could not be read, 2 bad usage.
    """
    root = ctx.find_root()
    config = _load(root)
    _setup_logging(root.obj["verbose"], "warning")
    from bot.cli_calendar import show_calendar

    ctx.exit(_run(lambda: show_calendar(config, email, click.echo)))
