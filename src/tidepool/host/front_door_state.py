"""``DATA_DIR/front-door.json``: the front door's state, from ``serve`` to ``service status``.

``serve``'s supervisor publishes each change (``FrontDoorReport``); ``tidepool service
status``, another process, reads it. A file rather than an API call: status must tell why
Caddy is down even when the API answers slowly, and a file needs no credentials. It is
replaced atomically (written aside, renamed over), so a reader sees one whole state or the
one before; it is root's alone like everything in the data directory. It names the ``serve``
that wrote it, so a file left by a killed ``serve`` is never read as today's.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tidepool.domain.front_door import FrontDoorState, Phase

FILE_NAME = "front-door.json"


class FrontDoorStateFile:
    def __init__(self, path: Path, serve_pid: int | None = None) -> None:
        self.path = path
        #: The ``serve`` named as the writer: this process unless given (tests).
        self._serve_pid = serve_pid

    @classmethod
    def in_data_dir(cls, data_dir: Path, serve_pid: int | None = None) -> FrontDoorStateFile:
        return cls(data_dir / FILE_NAME, serve_pid)

    def publish(self, state: FrontDoorState) -> None:
        """Replace the file with ``state``, written by this process (``serve``)."""
        body = {"serve_pid": self._serve_pid or os.getpid(), **asdict(state)}
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.unlink(missing_ok=True)  # a leftover could have a wider mode
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(body, out)
        partial.replace(self.path)

    def read(self, serve_pid: int) -> FrontDoorState | None:
        """The state the ``serve`` with ``serve_pid`` published last; None if it published
        none (an older version, or not yet) or the file is unreadable."""
        try:
            body = json.loads(self.path.read_text())
            if not isinstance(body, dict) or body.get("serve_pid") != serve_pid:
                return None
            return _state(body)
        except (OSError, ValueError, TypeError, KeyError):
            return None


def _state(body: dict[str, Any]) -> FrontDoorState:
    next_start_at = body["next_start_at"]
    return FrontDoorState(
        phase=Phase(body["phase"]),
        pid=int(body["pid"]) if body["pid"] is not None else None,
        deaths=int(body["deaths"]),
        span_seconds=float(body["span_seconds"]),
        last_cause=str(body["last_cause"]),
        last_lines=tuple(str(line) for line in body["last_lines"]),
        reason=str(body["reason"]),
        next_start_at=float(next_start_at) if next_start_at is not None else None,
    )
