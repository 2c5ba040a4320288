"""Stopping a background process that is known by its pid (Caddy, ``tidepool serve``)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable


def terminate(pid: int, running: Callable[[], int | None], timeout: float) -> None:
    """SIGTERM ``pid`` and wait until ``running()`` says it is gone; SIGKILL after
    ``timeout``, for a process that will not stop by itself."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    if running() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
