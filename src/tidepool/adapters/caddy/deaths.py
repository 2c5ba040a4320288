"""Why a Caddy died: its exit status, the out-of-memory killer, and the end of its log.

What can be known is noted while it lives (``watch``): which memory cgroup it runs in and
that cgroup's ``oom_kill`` counter, and how long its log was. After its death (``explain``)
the counter is read again: the kernel raises it for every process of the cgroup its OOM
killer kills, so a SIGKILL with a risen counter was out of memory, and with the same
counter was someone's ``kill -9``. cgroup v2 keeps the counter in ``memory.events``; v1 (the
memory controller of a hybrid host) in ``memory.oom_control``. Caddy shares its cgroup with
``serve``, so a kill of another member would be blamed on Caddy too; ``serve`` would be dead
in that case, which makes the slip harmless. Where no counter can be read, the cause says
both are possible.
"""

from __future__ import annotations

import contextlib
import json
import signal
from dataclasses import dataclass
from pathlib import Path

from tidepool.domain.restarts import Death

PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: How many of the log's last lines are kept, and how long each may be.
LAST_LINES = 5
LINE_CHARS = 300
#: How much of the log's end is read to find them.
_TAIL_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class OomCounter:
    """A cgroup's OOM-kill counter file, and its value when the watch began."""

    path: Path
    at_start: int


@dataclass(frozen=True, slots=True)
class Watched:
    """What was noted about a live Caddy to explain its death later."""

    pid: int
    oom: OomCounter | None
    #: The log's size when it started: only what it wrote itself is its last words.
    log_offset: int


def watch(pid: int, log_offset: int, *, proc: Path = PROC, root: Path = CGROUP_ROOT) -> Watched:
    """Note what ``explain`` will need, while ``pid`` runs (its cgroup is gone with it).
    ``log_offset``: the size of Caddy's log before it started (``log_size``)."""
    counter = oom_counter_file(pid, proc=proc, root=root)
    value = read_oom_kills(counter) if counter is not None else None
    return Watched(
        pid=pid,
        oom=OomCounter(counter, value) if counter is not None and value is not None else None,
        log_offset=log_offset,
    )


def explain(exit_code: int | None, watched: Watched, log_file: Path) -> Death:
    """The death of the watched Caddy. ``exit_code`` is what reaping it gave, as
    ``Popen.returncode`` has it (minus the signal if one killed it), or None if it could not
    be reaped (not this process's child)."""
    killed_by = _signal_name(-exit_code) if exit_code is not None and exit_code < 0 else ""
    return Death(
        exit_code=exit_code if exit_code is not None and exit_code >= 0 else None,
        signal=killed_by,
        out_of_memory=_oom_rose(watched.oom),
        last_lines=last_lines(log_file, watched.log_offset),
    )


def oom_counter_file(pid: int, *, proc: Path = PROC, root: Path = CGROUP_ROOT) -> Path | None:
    """The OOM-kill counter of ``pid``'s memory cgroup, if the host lets us read one."""
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    candidates: list[Path] = []
    for line in lines:
        hierarchy, controllers, path = [*line.split(":", 2), "", ""][:3]
        relative = path.lstrip("/")
        if hierarchy == "0" and not controllers:  # cgroup v2: mounted here, or hybrid
            candidates += [
                root / relative / "memory.events",
                root / "unified" / relative / "memory.events",
            ]
        elif "memory" in controllers.split(","):  # cgroup v1's memory controller
            candidates.append(root / "memory" / relative / "memory.oom_control")
    return next((c for c in candidates if read_oom_kills(c) is not None), None)


def read_oom_kills(counter: Path) -> int | None:
    """The ``oom_kill`` line of ``memory.events`` or ``memory.oom_control``."""
    try:
        text = counter.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def last_lines(log_file: Path, offset: int) -> tuple[str, ...]:
    """The last lines Caddy wrote after ``offset``, its JSON entries shortened to what a
    person reads (level, logger, message, error)."""
    try:
        with log_file.open("rb") as log:
            size = log.seek(0, 2)
            start = max(offset, size - _TAIL_BYTES) if offset <= size else 0  # 0: rotated
            log.seek(start)
            text = log.read().decode(errors="replace")
    except OSError:
        return ()
    lines = text.splitlines()
    if start > offset:  # began mid-line
        lines = lines[1:]
    lines = [line for line in lines if line.strip()][-LAST_LINES:]
    return tuple(_readable(line)[:LINE_CHARS] for line in lines)


def _readable(line: str) -> str:
    try:
        entry = json.loads(line)
    except ValueError:
        return line.strip()
    if not isinstance(entry, dict):
        return line.strip()
    parts = (entry.get(key) for key in ("level", "logger", "msg", "error"))
    return " ".join(str(part) for part in parts if part) or line.strip()


def _oom_rose(counter: OomCounter | None) -> bool | None:
    if counter is None:
        return None
    now = read_oom_kills(counter.path)
    return None if now is None else now > counter.at_start


def _signal_name(number: int) -> str:
    with contextlib.suppress(ValueError):
        return signal.Signals(number).name
    return f"signal {number}"


def log_size(path: Path) -> int:
    """The log's size now (0 if there is none yet)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
