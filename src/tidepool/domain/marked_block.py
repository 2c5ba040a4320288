"""A block of lines that Tidepool owns inside a file that someone else owns.

``authorized_keys`` in a workspace and ``~/.ssh/config`` on a developer's machine are their
owners' files: Tidepool writes only between its two marker lines and keeps every other line
exactly as it was. The block it replaces is the tightest pair of markers (the first end
marker and the last start marker before it), so a stray marker line the owner left, copied
or half deleted never makes a block that swallows their own lines; with no whole pair, a new
block is added at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Markers:
    begin: str
    end: str

    def merge(self, existing: str, lines: Sequence[str]) -> str:
        """``existing`` with the block holding ``lines``; no lines: no block."""
        kept = existing.splitlines()
        block = [self.begin, *lines, self.end] if lines else []
        span = self._span(kept)
        if span is not None:
            kept[span[0] : span[1] + 1] = block
        elif block:
            kept += block
        return "".join(f"{line}\n" for line in kept)

    def lines_in(self, text: str) -> list[str]:
        """The lines in the block of ``text`` (none without a whole block)."""
        lines = text.splitlines()
        span = self._span(lines)
        return [] if span is None else lines[span[0] + 1 : span[1]]

    def _span(self, lines: list[str]) -> tuple[int, int] | None:
        start = None
        for index, line in enumerate(lines):
            if line == self.begin:
                start = index
            elif line == self.end and start is not None:
                return start, index
        return None
