"""The user's keys in a workspace's ``~/.ssh/authorized_keys``, beside whatever else is there.

The file is the workspace owner's: they may add keys by hand, or options, or comments. So
Tidepool writes only between its two marker lines and keeps every other line exactly as it
was. The block it replaces is the tightest pair of markers (the first end marker and the
last start marker before it), so a stray marker line the user left, copied or half deleted
never makes a block that swallows their own lines; with no whole pair, a new block is added
at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

BEGIN = "# >>> tidepool: keys added through Tidepool (edit them there; lines outside are yours)"
END = "# <<< tidepool"


def merge(existing: str, keys: Sequence[str]) -> str:
    """``existing`` with Tidepool's block holding ``keys`` (one ``authorized_keys`` line
    each, already checked); no keys: no block."""
    lines = existing.splitlines()
    block = [BEGIN, *keys, END] if keys else []
    span = _block(lines)
    if span is not None:
        start, end = span
        lines[start : end + 1] = block
    elif block:
        lines += block
    return "".join(f"{line}\n" for line in lines)


def keys_in(text: str) -> list[str]:
    """The keys in Tidepool's block of ``text`` (none without a whole block)."""
    lines = text.splitlines()
    span = _block(lines)
    return [] if span is None else lines[span[0] + 1 : span[1]]


def _block(lines: list[str]) -> tuple[int, int] | None:
    """(start, end) line indexes of the tightest marker pair, or None."""
    start = None
    for index, line in enumerate(lines):
        if line == BEGIN:
            start = index
        elif line == END and start is not None:
            return start, index
    return None
