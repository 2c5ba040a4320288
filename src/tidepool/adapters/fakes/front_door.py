"""``FakeFrontDoor``: the ``FrontDoor`` port as a counter, for unit tests of the supervisor.

``die()`` plays a killed Caddy, ``fail_starts`` a Caddy that will not start, and
``touch_inputs()`` a change of users.
"""

from __future__ import annotations

import itertools

from tidepool.errors import ProxyError


class FakeFrontDoor:
    def __init__(self) -> None:
        self._pids = itertools.count(1000)
        self.running_pid: int | None = None
        self.starts = 0
        #: How many starts fail (``ProxyError``) before one succeeds.
        self.fail_starts = 0
        self.inputs = 0.0

    def pid(self) -> int | None:
        return self.running_pid

    def config_inputs(self) -> tuple[float, ...]:
        return (self.inputs,)

    async def start(self) -> bool:
        self.starts += 1
        if self.fail_starts:
            self.fail_starts -= 1
            raise ProxyError("Injected: the front door did not start.")
        if self.running_pid is not None:
            return False
        self.running_pid = next(self._pids)
        return True

    async def stop(self) -> bool:
        was_running = self.running_pid is not None
        self.running_pid = None
        return was_running

    def die(self) -> None:
        self.running_pid = None

    def touch_inputs(self) -> None:
        self.inputs += 1.0

    async def aclose(self) -> None:
        """Nothing to release."""
