"""Slowing down password guessing without handing anyone a way to lock others out.

Two budgets of failed sign-ins, each a sliding window of ``window_seconds``:

- per (user name, client address), ``max_failures``: a guesser at one account from one place
  waits once they have failed that often. The name alone is not a key: then anyone could
  lock anyone out by failing five times in their name, and the user, signing in from their
  own address, would be refused too. Here they are not.
- per client address, ``max_failures_per_address`` (generous: several people may share one
  address behind a NAT): one address spraying guesses over many names waits too.

A key over budget is refused without checking the password, until its oldest failure in the
window leaves it, so a guesser learns nothing while refused. IPv6 addresses count by their
/64, which one client usually holds whole and could otherwise walk through.

The table is bounded (``max_entries``; the entry least recently failed goes first). That is
safe: every entry is made by a failure, and one address makes at most
``max_failures_per_address + 1`` entries per window before it is refused, so pushing a live
entry out within its window takes about ``max_entries / (max_failures_per_address + 1)``
addresses failing at once (some 475 at the defaults); whoever has that many addresses already
gets more guesses from their own budgets than an evicted entry would give back. Memory stays
below ``max_entries`` short deques whatever is sent.

Kept in the one ``tidepool serve`` process; a restart forgets it, which costs a guesser a
restart of the server they cannot reach.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from tidepool.errors import InvalidInputError

#: A key of the failure table: ("pair", name, address) or ("address", address).
Key = tuple[str, ...]


class SignInLimiter:
    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_failures_per_address: int = 20,
        max_entries: int = 10_000,
    ) -> None:
        if min(max_failures, max_failures_per_address) < 1 or window_seconds <= 0:
            raise InvalidInputError(
                "Sign-in limits need at least one failure per key and a window longer than 0."
            )
        if max_entries < 2:
            raise InvalidInputError("The sign-in failure table needs room for 2 entries.")
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self._clock = clock
        #: Oldest-failed first: a failure moves its keys to the end.
        self._failures: OrderedDict[Key, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """How many keys the table holds (expired ones go when next looked at or pushed out)."""
        return len(self._failures)

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until ``name`` may try again from ``address`` (0: now)."""
        wait = 0.0
        for key, limit in self._keys(name, address):
            failures = self._recent(key)
            if len(failures) >= limit:
                wait = max(wait, failures[0] + self.window_seconds - self._clock())
        return wait

    def failed(self, name: str, address: str) -> None:
        now = self._clock()
        for key, limit in self._keys(name, address):
            failures = self._recent(key)
            if not failures:
                # Only the last ``limit`` failures can decide a wait: older ones are dropped.
                failures = self._failures[key] = deque(maxlen=limit)
            failures.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)

    def succeeded(self, name: str, address: str) -> None:
        """The right password: that name's failures from that address are forgotten. The
        address's budget is not: signing in to one's own account between guesses at others
        must not refill it."""
        self._failures.pop(("pair", name, address_key(address)), None)

    def _keys(self, name: str, address: str) -> tuple[tuple[Key, int], tuple[Key, int]]:
        where = address_key(address)
        return (
            (("pair", name, where), self.max_failures),
            (("address", where), self.max_failures_per_address),
        )

    def _recent(self, key: Key) -> deque[float]:
        """The failures of ``key`` still in the window (an empty key leaves the table)."""
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        cutoff = self._clock() - self.window_seconds
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures


def address_key(address: str) -> str:
    """What one client is, for counting: an IPv4 address, an IPv6 address's /64, or the
    text as given (``local`` for the host's own socket)."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
