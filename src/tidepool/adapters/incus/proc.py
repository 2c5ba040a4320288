"""Reading a local container's processes and the host's connections to it from ``/proc``.

A system container's processes are ordinary processes of this kernel: root on the host sees
them in ``/proc`` without running anything inside the container (an ``exec`` per workspace per
minute would cost incusd far more). They are the ones in the container init's pid namespace;
their uids are the host's, shifted by the container's id map. Connections are the host's own
TCP sockets (``/proc/net/tcp``), told apart by owner through ``/proc/PID/fd``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tidepool.domain.work import Process

PROC = Path("/proc")
ESTABLISHED = "01"


def _namespace(proc: Path, pid: int) -> str | None:
    try:
        return os.readlink(proc / str(pid) / "ns" / "pid")
    except OSError:
        return None


def _uid_shift(proc: Path, init: int) -> list[tuple[int, int, int]]:
    """The container's uid map: (inside, outside, count) ranges."""
    try:
        lines = (proc / str(init) / "uid_map").read_text().splitlines()
    except OSError:
        return []
    ranges = []
    for line in lines:
        words = line.split()
        if len(words) == 3 and all(w.isdigit() for w in words):
            ranges.append((int(words[0]), int(words[1]), int(words[2])))
    return ranges


def _inside(uid: int, ranges: list[tuple[int, int, int]]) -> int:
    for inside, outside, count in ranges:
        if outside <= uid < outside + count:
            return inside + uid - outside
    return -1  # not mapped: the host's, never a workspace user's


def _read_process(proc: Path, pid: int, ranges: list[tuple[int, int, int]]) -> Process | None:
    base = proc / str(pid)
    try:
        status = (base / "status").read_text()
        argv = (base / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None  # it ended while being read
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    try:
        ppid = int(fields["PPid"].strip())
        uid = int(fields["Uid"].split()[0])
    except (KeyError, ValueError, IndexError):
        return None
    words = tuple(word.decode(errors="replace") for word in argv if word)
    comm = fields.get("Name", "").strip()
    return Process(pid=pid, ppid=ppid, uid=_inside(uid, ranges), argv=words, comm=comm)


def processes_by_init(inits: Mapping[str, int], proc: Path = PROC) -> dict[str, list[Process]]:
    """Each container's processes (host pids, container uids), keyed as ``inits`` is.

    One pass over ``/proc`` for all of them: a container is told by its init's pid namespace.
    """
    namespaces: dict[str, str] = {}
    for key, pid in inits.items():
        namespace = _namespace(proc, pid)
        if namespace is not None:
            namespaces[namespace] = key
    found: dict[str, list[Process]] = {key: [] for key in namespaces.values()}
    shifts = {key: _uid_shift(proc, inits[key]) for key in found}
    with contextlib.suppress(OSError):
        for entry in os.scandir(proc):
            if not entry.name.isdigit():
                continue
            owner = namespaces.get(_namespace(proc, int(entry.name)) or "")
            if owner is None:
                continue
            process = _read_process(proc, int(entry.name), shifts[owner])
            if process is not None:
                found[owner].append(process)
    return found


@dataclass(frozen=True, slots=True)
class Connection:
    inode: int
    address: str
    port: int


def _remote(field: str) -> tuple[str, int] | None:
    """``0100007F:1F90`` (the kernel's little-endian IPv4, hex port) as ``(address, port)``."""
    host, _, port = field.partition(":")
    if len(host) != 8:
        return None  # IPv6 (tcp6): workspaces are reached over IPv4
    try:
        address = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(host), "little"))
        return str(address), int(port, 16)
    except ValueError:
        return None


def established(proc: Path = PROC) -> list[Connection]:
    """This network namespace's established IPv4 TCP connections, by remote end."""
    try:
        lines = (proc / "net" / "tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    connections = []
    for line in lines:
        words = line.split()
        if len(words) < 10 or words[3] != ESTABLISHED:
            continue
        remote = _remote(words[2])
        if remote is not None and words[9].isdigit():
            connections.append(Connection(int(words[9]), *remote))
    return connections


def socket_inodes(pid: int, proc: Path = PROC) -> set[int]:
    """The inodes of the sockets process ``pid`` holds open."""
    inodes: set[int] = set()
    directory = proc / str(pid) / "fd"
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            with contextlib.suppress(OSError):
                target = os.readlink(entry.path)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def count_by_port(
    connections: Iterable[Connection], address: str, inodes: set[int] | None = None
) -> Counter[int]:
    """Connections to ``address``, by port; only the sockets in ``inodes`` when given."""
    return Counter(
        c.port
        for c in connections
        if c.address == address and (inodes is None or c.inode in inodes)
    )
