"""Each user's own idle timeout, where they chose one (``/api/me/idle-timeout``).

One small JSON file in the data directory (``idle_timeouts.json``, root's alone), changed
under the same lock discipline as the other record files, so ``serve`` and the CLI never lose
each other's change (on PostgreSQL a row of the database instead, shared by every ``serve``:
``records.RecordSet``). It is kept apart from the users file because the local owner (no sign-in)
has no entry there and may still choose. The activity watch reads it at each look (a ``stat``
when nothing changed), so a new choice applies within one look.
"""

from __future__ import annotations

from pathlib import Path

from tidepool.auth.records import RecordSet, opened
from tidepool.domain.activity import IdleBounds

FILE_NAME = "idle_timeouts.json"


class IdleChoices:
    """``user -> minutes``: the timeouts users chose for their own workspaces, within
    ``bounds``; ``default`` is the platform's, which the others get."""

    def __init__(self, path: Path | RecordSet, bounds: IdleBounds, default: float) -> None:
        self._file = opened(path)
        self.bounds = bounds
        self.default = default

    @classmethod
    def in_directory(cls, data_dir: Path, bounds: IdleBounds, default: float) -> IdleChoices:
        return cls(data_dir / FILE_NAME, bounds, default)

    def chosen(self, user: str) -> float | None:
        """What ``user`` chose, in minutes (None: nothing)."""
        record = self._file.read().get(user)
        minutes = record.get("minutes") if record else None
        return float(minutes) if isinstance(minutes, int | float) else None

    def of(self, user: str) -> float | None:
        """The timeout ``user``'s choice gives their workspaces, held to the bounds as they
        are now; None when they chose nothing or users may no longer choose."""
        chosen = self.chosen(user)
        return self.bounds.clamp(chosen) if chosen is not None and self.bounds.open else None

    def choose(self, user: str, minutes: float | None) -> None:
        """Record ``user``'s choice, refused (``ConflictError``) outside the bounds; None
        forgets it, and their workspaces take the default again."""
        if minutes is not None:
            self.bounds.check(minutes)
        with self._file.change() as records:
            if minutes is None:
                records.pop(user, None)
            else:
                records[user] = {"minutes": minutes}
