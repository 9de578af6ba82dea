"""Terminal chat: the same commands and replies as Slack, for the demo and scripts."""

from __future__ import annotations

import asyncio
import sys

from bot.app import App
from bot.config import Config
from bot.messages import render_text

PROMPT = "ccbot> "


async def chat_loop(config: Config, email: str) -> None:
    app = App(config)
    away = await app.connect(wait=config.settings.pbx[0].connect_timeout)
    if away:
        print(
            f"(The phone system {', '.join(away)} is not reachable; changes are saved.)"
        )
    print(f"Talking to ccbot as {email}. Type /help, or Ctrl-D to quit.")
    try:
        while True:
            line = await asyncio.to_thread(_read_line)
            if line is None:
                break
            if not line.strip():
                continue
            reply = await app.commands.handle(email, line)
            print(render_text(reply))
    finally:
        await app.close()


def _read_line() -> str | None:
    try:
        return input(PROMPT)
    except EOFError:
        print(file=sys.stderr)
        return None
