"""Activity: the evidence that a workspace is in use, and when idleness becomes a stop.

A workspace is active as of the latest of its signals, each recorded with its source so that
the API can say which one keeps it up, and an idle stop can name what it relied on:

- ``ide``: code-server's own heartbeat (it beats while a browser tab is connected);
- ``connection``: an open connection through Caddy to the IDE or a forwarded port;
- ``ssh``: an open SSH tunnel;
- ``work``: a process someone started that is still running (``domain.work``);
- ``keepalive``: the user asked to keep it up until a time;
- ``start``: it was (re)started; a fresh workspace gets the whole timeout.

Pure: the activity watch gathers the signals, this decides.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


class Signal(enum.StrEnum):
    IDE = "ide"
    CONNECTION = "connection"
    SSH = "ssh"
    WORK = "work"
    KEEPALIVE = "keepalive"
    START = "start"


class StopReason(enum.StrEnum):
    """Why a workspace was stopped: recorded with every stop."""

    USER = "user"
    IDLE = "idle"
    MAX_LIFETIME = "max_lifetime"
    QUOTA = "quota"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One signal, when it was last seen, and what it was (``sleep 600``, ``port 3000``)."""

    signal: Signal
    at: datetime
    detail: str = ""


def latest(evidence: Iterable[Evidence]) -> Evidence | None:
    """The most recent evidence; on a tie, the first given (callers list the surest first)."""
    best: Evidence | None = None
    for item in evidence:
        if best is None or item.at > best.at:
            best = item
    return best


class Verdict(enum.StrEnum):
    ACTIVE = "active"
    WARN = "warn"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class IdlePolicy:
    """How long a workspace may sit idle, and how early its user is warned."""

    timeout: timedelta
    warning: timedelta

    def __post_init__(self) -> None:
        if self.timeout <= timedelta(0):
            raise ValueError("the idle timeout must be positive")
        if not timedelta(0) <= self.warning < self.timeout:
            raise ValueError("the idle warning must come before the timeout")

    def verdict(self, last: datetime, now: datetime) -> Verdict:
        idle = now - last
        if idle >= self.timeout:
            return Verdict.STOP
        if idle >= self.timeout - self.warning and self.warning:
            return Verdict.WARN
        return Verdict.ACTIVE

    def stops_at(self, last: datetime) -> datetime:
        return last + self.timeout
