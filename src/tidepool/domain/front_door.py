"""What the front door's supervisor tells an operator: up, restarting, or backing off, and why.

The supervisor publishes a ``FrontDoorState`` whenever it changes; ``tidepool service status``
reads the last one and prints ``describe(state, now)``. Times are wall-clock seconds
(``time.time()``), since the reader is another process.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Phase(enum.StrEnum):
    UP = "up"
    #: Being started again now (after a death, or to load a new config).
    RESTARTING = "restarting"
    #: Dead, and waiting out the crash-loop backoff before the next start.
    BACKING_OFF = "backing off"


@dataclass(frozen=True, slots=True)
class FrontDoorState:
    phase: Phase
    #: Caddy's pid while it is up.
    pid: int | None = None
    #: Deaths (and failed starts) in a row; 0 once it has stayed up long enough.
    deaths: int = 0
    #: Seconds from the first of those deaths to the last.
    span_seconds: float = 0.0
    #: The last death's cause ("" if none) and the last lines of Caddy's log before it.
    last_cause: str = ""
    last_lines: tuple[str, ...] = ()
    #: Why it is being restarted, when not for a death (its config's inputs changed).
    reason: str = ""
    #: When the next start is due (wall clock), while backing off.
    next_start_at: float | None = None


def describe(state: FrontDoorState, now: float) -> list[str]:
    """Lines for a person, the first one saying it all:

    - ``Caddy is up (pid 4242).``
    - ``Caddy is up again (pid 4242) after it crashed 5 times in 40 s (last: ...).``
    - ``Caddy crashed once (last: killed by SIGKILL ...); starting it again now.``
    - ``Caddy crashed 4 times in 12 s (last: killed by SIGKILL ...); next start in 8 s.``

    then, if Caddy wrote any before it died, its last log lines.
    """
    crashes = _crashes(state)
    if state.phase is Phase.UP:
        if not state.deaths:
            return [f"Caddy is up (pid {state.pid})."]
        head = f"Caddy is up again (pid {state.pid}) after it {crashes}."
    elif state.phase is Phase.RESTARTING:
        if not state.deaths:
            return [f"Caddy is being restarted ({state.reason or 'by its supervisor'})."]
        head = f"Caddy {crashes}; starting it again now."
    else:
        due = max(0.0, (state.next_start_at or now) - now)
        head = f"Caddy {crashes}; next start in {_seconds(due)}."
    if not state.last_lines:
        return [head]
    return [head, "Caddy's last log lines before it went down:"] + [
        f"  {line}" for line in state.last_lines
    ]


def _crashes(state: FrontDoorState) -> str:
    last = f"(last: {state.last_cause})" if state.last_cause else ""
    if state.deaths == 1:
        return f"crashed once {last}".rstrip()
    return f"crashed {state.deaths} times in {_seconds(state.span_seconds)} {last}".rstrip()


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
