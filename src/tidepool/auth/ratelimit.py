"""Slowing down password guessing: a few failed sign-ins per name and per address, then a wait.

A sliding window in memory: after ``max_failures`` failures within ``window_seconds`` for the
same user name (or from the same client address), further attempts are refused with the time
left until the oldest failure leaves the window. Refused attempts are not checked at all, so a
guesser learns nothing while locked out. Kept in the one ``tidepool serve`` process; a
restart forgets it, which costs a guesser a restart of the server they cannot reach.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable


class SignInLimiter:
    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key, deque())
        cutoff = self._clock() - self.window_seconds
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        wait = 0.0
        for key in keys:
            failures = self._recent(key)
            if len(failures) >= self.max_failures:
                wait = max(wait, failures[0] + self.window_seconds - self._clock())
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
