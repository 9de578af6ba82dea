"""The core's message models as Block Kit, always inside Slack's limits.

Slack refuses a whole message when one block breaks a limit, so every text is
split or cut here, and a message with more blocks than a surface allows keeps
the first ones and says how much was left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.messages import Block, Button, Buttons, Fields, Note, Reply, Section, Table

# Slack's documented limits (Block Kit reference: blocks, section, actions,
# context, button).
MESSAGE_BLOCKS = 50
HOME_BLOCKS = 100
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
CONTEXT_TEXT = 3000
BUTTON_TEXT = 75
ACTION_ID = 255
BUTTON_VALUE = 2000
# The top-level text is only the notification and screen-reader fallback;
# chat.update refuses more than 4,000 bytes, so stay well below.
FALLBACK_TEXT = 3000

ELLIPSIS = "…"
JsonBlock = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    text: str  # plain fallback for notifications
    blocks: list[JsonBlock]

    def message(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def escape(text: str) -> str:
    """Slack's three control characters; the *bold* and `code` marks pass."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def render(reply: Reply, max_blocks: int = MESSAGE_BLOCKS) -> Rendered:
    """A Reply as a message (or Home tab) body Slack accepts."""
    blocks = list(_sections(escape(reply.text)))
    for block in reply.blocks:
        blocks.extend(_render_block(block))
    _number_actions(blocks)
    return Rendered(text=fallback(reply), blocks=_fit(blocks, max_blocks))


def fallback(reply: Reply) -> str:
    return cut(escape(reply.text), FALLBACK_TEXT)


def _render_block(block: Block) -> Iterator[JsonBlock]:
    match block:
        case Section(text=text):
            yield from _sections(escape(text))
        case Note(text=text):
            yield from _context(escape(text))
        case Fields(pairs=pairs):
            yield from _fields(pairs)
        case Table():
            yield from _table(block)
        case Buttons(buttons=buttons):
            yield from _actions(buttons)


def _sections(text: str) -> Iterator[JsonBlock]:
    for chunk in _chunks(text, SECTION_TEXT):
        yield {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}


def _context(text: str) -> Iterator[JsonBlock]:
    pieces = list(_chunks(text, CONTEXT_TEXT))
    for start in range(0, len(pieces), CONTEXT_ELEMENTS):
        elements = [
            {"type": "mrkdwn", "text": piece}
            for piece in pieces[start : start + CONTEXT_ELEMENTS]
        ]
        yield {"type": "context", "elements": elements}


def _fields(pairs: tuple[tuple[str, str], ...]) -> Iterator[JsonBlock]:
    texts = [
        cut(f"*{escape(label)}*\n{escape(value) or ' '}", FIELD_TEXT)
        for label, value in pairs
    ]
    for start in range(0, len(texts), SECTION_FIELDS):
        fields = [
            {"type": "mrkdwn", "text": text}
            for text in texts[start : start + SECTION_FIELDS]
        ]
        yield {"type": "section", "fields": fields}


def _table(table: Table) -> Iterator[JsonBlock]:
    """A table reads best in chat as one line per row, the first cell in bold."""
    # A title that already carries its own *bold* marks is left as written.
    title = escape(table.title)
    lines = [title if "*" in title else f"*{title}*"] if title else []
    if not table.rows:
        lines.append(f"_{escape(table.empty)}_")
    for row in table.rows:
        first, *rest = (escape(str(cell)) for cell in row) if row else ("",)
        lines.append(" · ".join([f"• *{first}*", *rest]) if rest else f"• {first}")
    yield from _sections("\n".join(lines))


def _actions(buttons: tuple[Button, ...]) -> Iterator[JsonBlock]:
    elements = [_button(button) for button in buttons]
    for start in range(0, len(elements), ACTIONS_ELEMENTS):
        yield {
            "type": "actions",
            "elements": elements[start : start + ACTIONS_ELEMENTS],
        }


def _button(button: Button) -> JsonBlock:
    element: JsonBlock = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(button.label, BUTTON_TEXT)},
        "action_id": button.action,
    }
    if button.value:
        element["value"] = button.value[:BUTTON_VALUE]
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def _number_actions(blocks: list[JsonBlock]) -> None:
    """Make every action_id unique in its message: `action#n` (routes use the
    part before the #), since two buttons may share one action."""
    number = 0
    for block in blocks:
        for element in block.get("elements", ()):
            if element.get("type") == "button":
                suffix = f"#{number}"
                element["action_id"] = element["action_id"][: ACTION_ID - len(suffix)]
                element["action_id"] += suffix
                number += 1


def action_name(action_id: str) -> str:
    return action_id.rsplit("#", 1)[0]


def _fit(blocks: list[JsonBlock], limit: int) -> list[JsonBlock]:
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    left = len(blocks) - len(kept)
    note = (
        f"…and {left} more parts not shown: Slack shows at most {limit} "
        "per message. Ask for one queue to see it all, e.g. `/whoison sales`."
    )
    return [*kept, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]


def _chunks(text: str, limit: int) -> Iterable[str]:
    """Split at line ends where possible, so no line is broken in two."""
    if not text.strip():
        return []
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()]
