"""Block Kit rendering stays inside Slack's documented limits and reads well."""

from __future__ import annotations

from bot.app import App
from bot.messages import Button, Buttons, Fields, Note, Reply, Section, Table
from integrations.slack.blocks import HOME_BLOCKS, action_name, render
from integrations.slack.home import home_reply
from sandbox.asterisk import Sandbox
from tests.conftest import say
from tests.integrations.slack.standin import LIMITS, block_problems

CONVERSATION = [
    ("ana@shop.test", "/ccbot"),
    ("ana@shop.test", "/help pause"),
    ("ana@shop.test", "/joinqueue"),
    ("ben@shop.test", "/joinqueue sales for 1h"),
    ("ana@shop.test", "/pause lunch for 30m"),
    ("cleo@shop.test", "/pause ben@shop.test training until 17:00"),
    ("ana@shop.test", "/queues"),
    ("ana@shop.test", "/whoison"),
    ("ana@shop.test", "/whoison sales"),
    ("ana@shop.test", "/me"),
    ("cleo@shop.test", "/me ben@shop.test"),
    ("ana@shop.test", "/unpause"),
    ("sam@shop.test", "/leavequeue support"),
    ("ana@shop.test", "/leavequeue"),
    ("ana@shop.test", "/joinqueue nowhere"),
    ("ana@shop.test", "/pause for ever"),
    ("ana@shop.test", "/frobnicate"),
]


def all_text(blocks: list[dict]) -> str:
    parts = []
    for block in blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        for item in block.get("fields", []) + block.get("elements", []):
            parts.append(item["text"] if item["type"] == "mrkdwn" else "")
    return "\n".join(parts)


async def test_every_command_reply_is_valid_block_kit(app: App, pbx: Sandbox) -> None:
    for email, line in CONVERSATION:
        reply = await say(app, email, line)
        rendered = render(reply)

        assert block_problems(rendered.blocks) == [], line
        assert rendered.text and len(rendered.text) <= 3000, line
        shown = all_text(rendered.blocks)
        assert reply.text.split("\n")[0][:40] in shown, line
        assert "Traceback" not in shown and "Error" not in shown, line


async def test_home_tab_fits_for_everyone(app: App, pbx: Sandbox) -> None:
    await say(app, "ana@shop.test", "/joinqueue all for 2h")
    await say(app, "ana@shop.test", "/pause lunch for 30m")
    for person in app.store.people():
        blocks = render(home_reply(app.control, person), HOME_BLOCKS).blocks
        assert block_problems(blocks, "home") == []


def test_user_text_cannot_ping_a_channel_or_break_markup() -> None:
    reply = Reply(text="Paused (<!channel> & <https://evil|click>).")

    text = render(reply).blocks[0]["text"]["text"]

    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "&amp;" in text


def test_long_section_is_split_at_line_ends() -> None:
    lines = [f"line {n}: " + "y" * 90 for n in range(100)]

    blocks = render(Reply(text="Long", blocks=(Section("\n".join(lines)),))).blocks

    assert block_problems(blocks) == []
    assert len(blocks) > 2
    joined = "\n".join(b["text"]["text"] for b in blocks[1:])
    assert joined == "\n".join(lines)


def test_many_fields_and_buttons_are_spread_over_blocks() -> None:
    fields = Fields(tuple((f"label {n}", "v" * 2500) for n in range(23)))
    buttons = Buttons(
        tuple(Button("B" * 100, "calls.claim", str(n)) for n in range(60))
    )

    blocks = render(Reply(text="Many", blocks=(fields, buttons))).blocks

    assert block_problems(blocks) == []
    assert sum(len(b.get("fields", [])) for b in blocks) == 23
    elements = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(elements) == 60
    assert {action_name(e["action_id"]) for e in elements} == {"calls.claim"}
    assert all(len(e["text"]["text"]) <= LIMITS["button_text"] for e in elements)


def test_too_many_blocks_are_summarised_within_the_surface_limit() -> None:
    notes = tuple(Note(f"note {n}") for n in range(150))

    message = render(Reply(text="Lots", blocks=notes)).blocks
    home = render(Reply(text="Lots", blocks=notes), HOME_BLOCKS).blocks

    assert len(message) == LIMITS["message_blocks"]
    assert len(home) == LIMITS["home_blocks"]
    assert "more parts not shown" in message[-1]["elements"][0]["text"]
    assert block_problems(message) == [] and block_problems(home, "home") == []


def test_empty_table_says_so() -> None:
    blocks = render(
        Reply(text="Q", blocks=(Table("Sales", ("Member", "State"), (), "Nobody."),))
    ).blocks

    assert blocks[1]["text"]["text"] == "*Sales*\n_Nobody._"
