"""A setup step's output is told line by line while it runs, redrawn progress as its last
drawing, and a flood of output cut to its end."""

from __future__ import annotations

import asyncio

from tidepool.errors import RuntimeReadError
from tidepool.services.step_output import LIVE_BYTES, follow, readable


class GrowingFile:
    """A step's output file that the test writes to while ``follow`` reads it."""

    def __init__(self) -> None:
        self.content = b""
        self.failures = 0

    async def read(self, offset: int) -> bytes:
        if self.failures:
            self.failures -= 1
            raise RuntimeReadError("Incus: HTTP 500")
        return self.content[offset : offset + 16_384]


async def test_whole_lines_are_told_while_the_step_runs_and_the_rest_when_it_ends() -> None:
    file, told = GrowingFile(), []
    finish = asyncio.Event()

    async def step() -> int:
        file.content += b"Cloning into app\nReceiving objects:  10%\rReceiving objects: 100%\n"
        file.content += b"half a li"
        await finish.wait()
        file.content += b"ne\nend without a break"
        return 7

    async def emit(text: str) -> None:
        told.append(text)

    following = asyncio.create_task(follow(step(), file.read, emit, poll=0.01))
    while not told:
        await asyncio.sleep(0.01)
    assert told == ["Cloning into app\nReceiving objects: 100%"], "live, and whole lines only"
    finish.set()
    assert await following == 7
    assert told[1:] == ["half a line\nend without a break"]


async def test_a_read_that_fails_is_tried_again_and_nothing_is_lost() -> None:
    file, told = GrowingFile(), []
    file.content = b"one\ntwo\n"
    file.failures = 3

    async def step() -> str:
        await asyncio.sleep(0.05)
        return "done"

    async def emit(text: str) -> None:
        told.append(text)

    assert await follow(step(), file.read, emit, poll=0.01) == "done"
    assert "\n".join(told) == "one\ntwo"


async def test_a_flood_is_cut_and_its_last_lines_kept() -> None:
    file, told = GrowingFile(), []
    lines = [f"line {n:07d}".encode() for n in range(60_000)]
    file.content = b"\n".join(lines) + b"\nfatal: the real error\n"

    async def emit(text: str) -> None:
        told.append(text)

    async def step() -> None:
        return None

    await follow(step(), file.read, emit, poll=0.01)
    shown = "\n".join(told)
    assert len(shown) < LIVE_BYTES + 8192, "the middle is left out"
    assert "bytes of output left out; the last lines:" in told[-1]
    assert told[-1].endswith("fatal: the real error")
    assert told[-1].splitlines()[1].startswith("line "), "the tail starts at a whole line"


def test_a_redrawn_line_is_its_last_drawing_and_bad_bytes_are_marked() -> None:
    assert readable(b"a\r\rb\rc\n\xffz") == "c\n\ufffdz"
