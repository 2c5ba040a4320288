"""A setup step's output, told line by line while the step runs.

A step inside a workspace writes its output to a file there (``setup_scripts.STREAMED``);
``follow`` reads what is new in that file every ``poll`` seconds until the step ends, and
hands each batch of whole lines to ``emit`` (an event of the workspace's log, which the web
app and ``tidepool workspace logs --follow`` show as it comes). Reading a file rather than the
exec's own output is what makes it live: Incus gives a recorded output only once the command
has ended.

A progress line that redraws itself (``\\r``, as ``git clone --progress`` prints) is told as its
last drawing. A step that prints more than ``LIVE_BYTES`` is cut: the rest is left out but for
its last ``TAIL_BYTES``, where an error is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tidepool.errors import TidepoolError

T = TypeVar("T")

#: The most one read takes: one log event at most (the store keeps events short).
READ_BYTES = 16_384
#: What one step may show in all, live.
LIVE_BYTES = 256 * 1024
#: What is kept of the end of a step that printed more than ``LIVE_BYTES``.
TAIL_BYTES = 4096
POLL_SECONDS = 0.5

Read = Callable[[int], Awaitable[bytes]]
Emit = Callable[[str], Awaitable[None]]


def readable(raw: bytes) -> str:
    """``raw`` as lines a log shows: each redrawn line (``\\r``) as its last drawing."""
    lines = raw.decode("utf-8", errors="replace").split("\n")
    return "\n".join(_last_drawing(line) for line in lines)


def _last_drawing(line: str) -> str:
    drawings = [part for part in line.split("\r") if part]
    return drawings[-1] if drawings else ""


class _Shown:
    """What of a step's output has been told, and the end of what was left out."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.told = 0
        self.left_out = 0
        self.tail = b""

    async def tell(self, raw: bytes) -> None:
        if not raw:
            return
        if self.told + len(raw) <= LIVE_BYTES:
            self.told += len(raw)
            await self._emit(readable(raw).rstrip("\n"))
            return
        self.left_out += len(raw)
        self.tail = (self.tail + raw)[-TAIL_BYTES:]

    async def finish(self) -> None:
        if self.left_out:
            cut = self.tail.find(b"\n") + 1 if len(self.tail) == TAIL_BYTES else 0
            await self._emit(
                f"[{self.left_out - len(self.tail) + cut} bytes of output left out; the last"
                " lines:]\n" + readable(self.tail[cut:]).rstrip("\n")
            )


async def follow(step: Awaitable[T], read: Read, emit: Emit, poll: float = POLL_SECONDS) -> T:
    """Await ``step`` while its output file grows, telling each batch of whole lines to
    ``emit`` (the rest, once it has ended). A read that fails is tried at the next poll: the
    output is late, never lost while the file is there."""
    running = asyncio.ensure_future(step)
    shown, offset, pending = _Shown(emit), 0, b""
    try:
        while True:
            ended = running.done() or bool((await asyncio.wait({running}, timeout=poll))[0])
            while True:
                try:
                    chunk = await read(offset)
                except TidepoolError:
                    chunk = b""
                offset += len(chunk)
                pending += chunk
                if len(chunk) < READ_BYTES:
                    break
            whole = len(pending) if ended else pending.rfind(b"\n") + 1
            await shown.tell(pending[:whole])
            pending = pending[whole:]
            if ended:
                await shown.finish()
                return running.result()
    finally:
        if not running.done():
            running.cancel()
