"""``FakeFrontDoor``: the ``FrontDoor`` port as a counter, for unit tests of the supervisor.

``die()`` plays a killed Caddy (SIGKILL unless told another death), ``fail_starts`` a Caddy
that will not start, and ``touch_inputs()`` a change of users. ``PublishedStates`` keeps what
the supervisor publishes, in order.
"""

from __future__ import annotations

import itertools

from tidepool.domain.front_door import FrontDoorState
from tidepool.domain.restarts import Death
from tidepool.errors import ProxyError

#: How a ``die()`` without arguments ends the fake: as ``kill -9`` would.
KILLED = Death(signal="SIGKILL")


class FakeFrontDoor:
    def __init__(self) -> None:
        self._pids = itertools.count(1000)
        self.running_pid: int | None = None
        self.starts = 0
        #: How many starts fail (``ProxyError``) before one succeeds.
        self.fail_starts = 0
        self.inputs = 0.0
        self._death: Death | None = None

    def pid(self) -> int | None:
        return self.running_pid

    def last_death(self) -> Death | None:
        return self._death

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
        self._death = None
        return True

    async def stop(self) -> bool:
        was_running = self.running_pid is not None
        self.running_pid = None
        return was_running

    def die(self, death: Death = KILLED) -> None:
        """End the running fake as ``death`` says (nothing happens if none runs)."""
        if self.running_pid is not None:
            self.running_pid = None
            self._death = death

    def touch_inputs(self) -> None:
        self.inputs += 1.0

    async def aclose(self) -> None:
        """Nothing to release."""


class PublishedStates:
    """A ``FrontDoorReport`` that keeps every state published to it."""

    def __init__(self) -> None:
        self.states: list[FrontDoorState] = []

    def publish(self, state: FrontDoorState) -> None:
        self.states.append(state)

    @property
    def last(self) -> FrontDoorState | None:
        return self.states[-1] if self.states else None
