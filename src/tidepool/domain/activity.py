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
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidepool.errors import ConflictError, InvalidInputError


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
    """How long a workspace may sit idle, and how early its user is warned. The same
    countdown bounds a whole run (``max_lifetime_hours``), counted from the start."""

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


#: The longest keepalive one request may ask for; ask again to keep it longer.
MAX_KEEPALIVE = timedelta(days=7)
#: A duration as the API's schema states it (each unit at most once, in this order).
DURATION_PATTERN = r"^(\d{1,4}d)?(\d{1,5}h)?(\d{1,6}m)?(\d{1,7}s)?$"
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> timedelta:
    """``3h``, ``90m``, ``1d12h``, ``45s`` as a duration; ``InvalidInputError`` otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise InvalidInputError(
            f"Invalid duration {text!r}: use days, hours, minutes and seconds, as in 3h, 90m "
            "or 1d12h."
        )
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def check_keepalive(until: datetime | None, now: datetime) -> None:
    """Refuse (``ConflictError``, as a quota is) a keepalive that ends now or in the past, or
    lasts longer than the platform allows: a well-formed request the limit turns down."""
    if until is None:
        return
    if until <= now:
        raise ConflictError("A keepalive must end in the future.")
    if until - now > MAX_KEEPALIVE + timedelta(seconds=1):
        raise ConflictError(
            f"A keepalive can last at most {MAX_KEEPALIVE.days} days; ask again to extend it."
        )


@dataclass(frozen=True, slots=True)
class IdleBounds:
    """The idle timeouts an admin lets users choose for themselves, in minutes; a ``high``
    of 0 lets nobody choose. A choice made before the admin narrowed the bounds is held to
    the new ones (``clamp``), never refused after the fact."""

    low: float
    high: float

    @property
    def open(self) -> bool:
        return self.high > 0

    def check(self, minutes: float) -> None:
        """Refuse (``ConflictError``) a choice outside the bounds, saying what they are."""
        if not self.open:
            raise ConflictError(
                "This installation does not let users choose their idle timeout; an admin "
                "sets idle_timeout_user_max_minutes to allow it."
            )
        if not self.low <= minutes <= self.high:
            raise ConflictError(
                f"An idle timeout of {minutes:g} minutes is outside what this installation "
                f"allows: {self.low:g} to {self.high:g} minutes."
            )

    def clamp(self, minutes: float) -> float:
        return min(max(minutes, self.low), self.high)
