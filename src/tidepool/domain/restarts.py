"""When to start the front door (Caddy) again after it died: the crash-loop backoff.

The first deaths are healed at once, because a single killed Caddy must answer again within
3 s (issue 11). A Caddy that keeps dying right after each start is a crash loop: restarting
it every second forever burns a core and fills the log without helping, so from the third
death in a row each start waits longer than the one before (1, 2, 4, 8 ... s, at most 30 s).
A start that fails counts as a death. A Caddy that stays up for ``stable_seconds`` ends the
loop: its next death is a first death again.

Pure code with the clock passed in (any monotonic seconds), so the rule is tested as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: Beyond this exponent the delay is long past any cap (and ``2 ** n`` would overflow a float).
_MAX_DOUBLINGS = 62


@dataclass(frozen=True, slots=True)
class Death:
    """How a front door process ended, as far as it can be known."""

    #: It exited by itself with this code (None: it did not, or nobody could reap it).
    exit_code: int | None = None
    #: The signal that killed it ("SIGKILL"), "" if none is known.
    signal: str = ""
    #: Whether the kernel's out-of-memory killer killed it: the oom_kill counter of its
    #: memory cgroup rose while it ran (True), did not (False), or could not be read (None).
    out_of_memory: bool | None = None
    #: It never came up, and this is why ("" if it did come up).
    failed_start: str = ""
    #: The end of what it wrote to its own log while it ran, oldest first.
    last_lines: tuple[str, ...] = ()

    @property
    def cause(self) -> str:
        """One line for a person: what ended it."""
        if self.failed_start:
            return f"did not start: {self.failed_start}"
        if self.signal:
            if self.out_of_memory is True:
                return f"killed by {self.signal}: out of memory (its cgroup's OOM killer)"
            if self.signal == "SIGKILL" and self.out_of_memory is None:
                return "killed by SIGKILL (out of memory or killed by hand)"
            if self.signal == "SIGKILL":
                return "killed by SIGKILL (not out of memory: killed by hand or by a program)"
            return f"killed by {self.signal}"
        if self.exit_code is not None:
            return f"exited with code {self.exit_code}"
        if self.out_of_memory is True:
            return "gone: out of memory (its cgroup's OOM killer)"
        return "gone (not started by this process, so how it ended is unknown)"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How long to wait before the next start, by deaths in a row."""

    #: Deaths in a row that are restarted without waiting.
    at_once: int = 2
    #: The wait after the first death beyond ``at_once``; each further death doubles it.
    first_delay: float = 1.0
    #: The longest wait.
    max_delay: float = 30.0
    #: Up this long, and the front door is healthy again: the next death starts a new count.
    stable_seconds: float = 60.0

    def delay(self, deaths: int) -> float:
        """Seconds to wait before starting again after ``deaths`` deaths in a row."""
        if deaths <= self.at_once:
            return 0.0
        doublings = min(deaths - self.at_once - 1, _MAX_DOUBLINGS)
        return float(min(self.max_delay, self.first_delay * 2**doublings))


@dataclass(frozen=True, slots=True)
class Restarts:
    """The record the policy keeps: deaths in a row, the last one, and when to start next.

    Every method returns a new record; times are the caller's monotonic clock.
    """

    #: Deaths (and failed starts) in a row, none of them after a stable run.
    deaths: int = 0
    #: When the first and the last of them happened.
    first_at: float | None = None
    last_at: float | None = None
    last: Death | None = None
    #: When the running front door came up (None while it is down).
    up_since: float | None = None
    #: Not before this may it be started again (None: at once).
    next_start_at: float | None = None

    def died(self, death: Death, now: float, policy: RestartPolicy) -> Restarts:
        """The front door was found dead (or would not start): one more in the row."""
        base = self.settled(now, policy)
        deaths = base.deaths + 1
        return Restarts(
            deaths=deaths,
            first_at=base.first_at if base.deaths and base.first_at is not None else now,
            last_at=now,
            last=death,
            up_since=None,
            next_start_at=now + policy.delay(deaths),
        )

    def started(self, now: float) -> Restarts:
        """It is up again; the row of deaths stays until it has stayed up long enough."""
        return replace(self, up_since=now, next_start_at=None)

    def settled(self, now: float, policy: RestartPolicy) -> Restarts:
        """Forget the deaths once the front door has been up ``stable_seconds``."""
        if (
            self.deaths
            and self.up_since is not None
            and now - self.up_since >= policy.stable_seconds
        ):
            return Restarts(up_since=self.up_since)
        return self

    def wait(self, now: float) -> float:
        """Seconds until it may be started again (0: now)."""
        if self.next_start_at is None:
            return 0.0
        return max(0.0, self.next_start_at - now)

    @property
    def span(self) -> float:
        """Seconds from the first death in the row to the last."""
        if self.first_at is None or self.last_at is None:
            return 0.0
        return self.last_at - self.first_at
