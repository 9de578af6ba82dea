"""Platform-neutral message models. Renderers turn them into Block Kit or cards.

Text may use two marks that every renderer understands: *bold* and `code`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    text: str


@dataclass(frozen=True)
class Fields:
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "Nobody."


@dataclass(frozen=True)
class Button:
    label: str
    action: str
    value: str = ""
    style: str = ""  # "", "primary" or "danger"


@dataclass(frozen=True)
class Buttons:
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class Note:
    text: str


Block = Section | Fields | Table | Buttons | Note


@dataclass(frozen=True)
class Reply:
    """What a command answers: a one-line summary, optional detail."""

    text: str
    blocks: tuple[Block, ...] = field(default=())
    ok: bool = True
    public: bool = False  # about the whole channel rather than the asker


def refused(text: str) -> Reply:
    return Reply(text=text, ok=False)


_BOLD = re.compile(r"\*(\S(?:[^*\n]*\S)?)\*")


def plain(text: str) -> str:
    """Text without the *bold* marks, for places that show no formatting."""
    return _BOLD.sub(r"\1", text)


def render_text(reply: Reply) -> str:
    """Plain text for the console and for notification fallbacks."""
    lines = [reply.text]
    for block in reply.blocks:
        lines.append("")
        lines.extend(_block_lines(block))
    return plain("\n".join(lines).rstrip())


def _block_lines(block: Block) -> list[str]:
    match block:
        case Section(text=text) | Note(text=text):
            return text.splitlines()
        case Fields(pairs=pairs):
            width = max((len(label) for label, _ in pairs), default=0)
            return [f"{label.ljust(width)}  {value}" for label, value in pairs]
        case Table(title=title, columns=columns, rows=rows, empty=empty):
            return (
                [title, *_table_lines(columns, rows, empty)]
                if title
                else (_table_lines(columns, rows, empty))
            )
        case Buttons(buttons=buttons):
            return ["  ".join(f"[{b.label}]" for b in buttons)]
    return []


def _table_lines(
    columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...], empty: str
) -> list[str]:
    if not rows:
        return [f"  {empty}"]
    widths = [
        max(len(str(c)) for c in col) for col in zip(columns, *rows, strict=False)
    ]

    def line(cells: tuple[str, ...]) -> str:
        return (
            "  "
            + "  ".join(
                str(c).ljust(w) for c, w in zip(cells, widths, strict=False)
            ).rstrip()
        )

    return [line(columns), *(line(row) for row in rows)]
