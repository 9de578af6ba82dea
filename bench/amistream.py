"""A recorded AMI stream, replayed by a small AMI server on 127.0.0.1.

The server answers Login, CoreStatus and QueueStatus the way Asterisk does,
sends FullyBooted, then the recorded events, then a closing BenchDone event.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "asterisk"
EOL = "\r\n"
DONE = f"Event: BenchDone{EOL}{EOL}"


def recorded_stream(repeats: int) -> tuple[bytes, int]:
    """The recorded calls, ``repeats`` times over with fresh Uniqueids each time."""
    calls = [path.read_text() for path in sorted(FIXTURES.glob("*.txt"))]
    events_per_round = sum(text.count("Event:") for text in calls)
    rounds = []
    for n in range(repeats):
        for text in calls:
            rounds.append(
                re.sub(r"(Uniqueid|Linkedid): (\d+)\.(\d+)", rf"\1: \2.\3{n:05d}", text)
            )
    body = "".join(rounds).replace("\r\n", "\n").replace("\n", EOL)
    return body.encode(), events_per_round * repeats


class ReplayServer:
    def __init__(self, stream: bytes) -> None:
        self.stream = stream
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(f"Asterisk Call Manager/9.0.0{EOL}".encode())
        try:
            while True:
                block = await reader.readuntil(f"{EOL}{EOL}".encode())
                fields = dict(
                    line.split(": ", 1)
                    for line in block.decode().split(EOL)
                    if ": " in line
                )
                await self._answer(fields, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    async def _answer(
        self, fields: dict[str, str], writer: asyncio.StreamWriter
    ) -> None:
        action = fields.get("Action", "").lower()
        action_id = fields.get("ActionID", "")
        ok = f"Response: Success{EOL}ActionID: {action_id}{EOL}"
        if action == "login":
            writer.write(f"{ok}Message: Authentication accepted{EOL}{EOL}".encode())
            writer.write(
                f"Event: FullyBooted{EOL}Status: Fully Booted{EOL}{EOL}".encode()
            )
            await writer.drain()
        elif action == "corestatus":
            startup = f"CoreStartupDate: 2026-12-01{EOL}CoreStartupTime: 09:00:00"
            writer.write(f"{ok}{startup}{EOL}{EOL}".encode())
        elif action == "queuestatus":
            follows = f"EventList: start{EOL}Message: Queue status will follow"
            writer.write(f"{ok}{follows}{EOL}{EOL}".encode())
            done = f"ActionID: {action_id}{EOL}EventList: Complete"
            writer.write(f"Event: QueueStatusComplete{EOL}{done}{EOL}{EOL}".encode())
        elif action == "benchreplay":
            # The client's clock starts when it asks; the stream follows.
            writer.write(f"{ok}Message: Replaying{EOL}{EOL}".encode())
            self._replay(writer)
        else:
            writer.write(f"{ok}Message: Done{EOL}{EOL}".encode())

    def _replay(self, writer: asyncio.StreamWriter) -> None:
        writer.write(self.stream)
        writer.write(DONE.encode())
