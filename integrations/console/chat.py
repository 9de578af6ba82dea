"""Terminal chat: the same commands and replies as Slack, for the demo and scripts."""

from __future__ import annotations

import asyncio
import sys

from bot.app import App
from bot.config import Config
from bot.messages import render_text

PROMPT = "ccbot> "


QUIT = {"/quit", "/exit", "quit", "exit"}


async def chat_loop(config: Config, email: str) -> bool:
    """The conversation; False when the person is not in the people list."""
    app = App(config)
    if app.control.find_person(email) is None:
        reply = await app.commands.handle(email, "/help")
        print(render_text(reply))
        await app.close()
        return False
    away = await app.connect(wait=config.settings.pbx[0].connect_timeout)
    if away:
        print(
            f"(The phone system {', '.join(away)} is not reachable; changes are saved.)"
        )
    print(f"Talking to ccbot as {email}. Type /help, or /quit (Ctrl-D) to leave.")
    try:
        while True:
            line = await asyncio.to_thread(_read_line)
            if line is None or line.strip().lower() in QUIT:
                break
            if not line.strip():
                continue
            reply = await app.commands.handle(email, line)
            print(render_text(reply))
    finally:
        await app.close()
    return True


def _read_line() -> str | None:
    try:
        return input(PROMPT)
    except EOFError:
        print(file=sys.stderr)
        return None
