"""The user's keys in a workspace's ``~/.ssh/authorized_keys``, beside whatever else is there.

The file is the workspace owner's: they may add keys by hand, or options, or comments, so
Tidepool's keys live in a marked block (``marked_block``) and every other line stays.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidepool.domain.marked_block import Markers

BEGIN = "# >>> tidepool: keys added through Tidepool (edit them there; lines outside are yours)"
END = "# <<< tidepool"
MARKERS = Markers(BEGIN, END)


def merge(existing: str, keys: Sequence[str]) -> str:
    """``existing`` with Tidepool's block holding ``keys`` (one ``authorized_keys`` line
    each, already checked); no keys: no block."""
    return MARKERS.merge(existing, keys)


def keys_in(text: str) -> list[str]:
    """The keys in Tidepool's block of ``text`` (none without a whole block)."""
    return MARKERS.lines_in(text)
