"""Running work: which of a workspace's processes mean someone's work is still going on.

An idle stop must never kill work (a build, a test run, a training loop, a ``sleep`` in a
terminal whose tab was closed, a job under ``nohup``, ``tmux`` or ``screen``), and must not be
held off forever by what every workspace always runs. So the rule is by exclusion: every
process a person started (owned by a regular user, or started under one, as ``sudo make
install`` is) is work, except the baseline:

- code-server and everything it runs for itself (its extension host, language servers,
  watchers): their command line names code-server;
- a shell at its prompt (``bash``, ``-bash``, ``zsh -l``: a shell with options only; a shell
  running a script or ``-c`` is work);
- what only waits for a person at a terminal: multiplexers (``tmux``, ``screen``), pagers and
  editors (``less``, ``vim``, ``nano``), and the session's plumbing (``sshd``, ``systemd
  --user``, agents).

Whether the process uses CPU does not matter: a ``sleep 600`` is someone waiting on purpose.
Pure: the runtime adapter reads the processes, this decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: The first uid of a regular user (Debian's and Alpine's ``adduser``); below it, system
#: accounts (root, the SSH bridge's user), whose own daemons are never work.
FIRST_USER_UID = 1000
NOBODY_UID = 65534

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "fish", "ash", "ksh", "tcsh", "csh"})
#: Programs that wait for a person, not for a result.
WAITING_FOR_A_PERSON = frozenset(
    {
        "tmux",
        "screen",
        "less",
        "more",
        "man",
        "vi",
        "vim",
        "nvim",
        "nano",
        "emacs",
        "top",
        "htop",
        "sshd",
        "sftp-server",
        "systemd",
        "(sd-pam)",
        "dbus-daemon",
        "ssh-agent",
        "gpg-agent",
        "login",
        "su",
        "sudo",
        "bash-completion",
    }
)


@dataclass(frozen=True, slots=True)
class Process:
    """One process of a workspace as its own namespace sees it."""

    pid: int
    ppid: int
    uid: int
    argv: tuple[str, ...]
    #: The kernel's short name, for a process whose command line is empty (a kernel-side
    #: or exiting process).
    comm: str = ""

    @property
    def program(self) -> str:
        """The program's base name: ``/usr/bin/bash`` and ``-bash`` are both ``bash``."""
        first = self.argv[0] if self.argv else self.comm
        # tmux and screen rename themselves ("tmux: server"); login shells start with "-".
        return first.split(":", 1)[0].rsplit("/", 1)[-1].lstrip("-").split(" ", 1)[0]

    @property
    def text(self) -> str:
        return " ".join(self.argv) or self.comm


def is_baseline(process: Process) -> bool:
    """True for what every workspace runs and what only waits for a person (see above)."""
    if "code-server" in process.text:
        return True
    program = process.program
    if program in SHELLS:
        options = process.argv[1:]
        return all(word.startswith("-") and word != "-c" for word in options)
    return program in WAITING_FOR_A_PERSON


def started_by_a_person(process: Process, by_pid: Mapping[int, Process]) -> bool:
    """Owned by a regular user, or a descendant of such a process (``sudo``'s children)."""
    seen: set[int] = set()
    current: Process | None = process
    while current is not None and current.pid not in seen:
        if FIRST_USER_UID <= current.uid != NOBODY_UID:
            return True
        seen.add(current.pid)
        current = by_pid.get(current.ppid)
    return False


def work(processes: Iterable[Process]) -> Sequence[Process]:
    """The processes that are someone's work, in pid order."""
    listed = sorted(processes, key=lambda p: p.pid)
    by_pid = {p.pid: p for p in listed}
    return [p for p in listed if not is_baseline(p) and started_by_a_person(p, by_pid)]


def describe(working: Sequence[Process], limit: int = 3) -> str:
    """A short account for a person: ``sleep 600, make -j4 (and 2 more)``."""
    shown = ", ".join(p.text[:60] for p in working[:limit])
    more = len(working) - limit
    return f"{shown} (and {more} more)" if more > 0 else shown
