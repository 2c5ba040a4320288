"""Kernel limits that Incus recommends for production.

``fs.inotify.max_user_instances`` (128 by default) is shared by every container on the host;
each code-server uses several, so the default caps a host at about a dozen workspaces.
"""

from __future__ import annotations

from pathlib import Path

from tidepool.host.steps import StepResult

LIMITS = {
    "fs.inotify.max_user_instances": 8192,
    "fs.inotify.max_user_watches": 1048576,
    "fs.inotify.max_queued_events": 1048576,
    "vm.max_map_count": 262144,
}
PERSIST_FILE = Path("/etc/sysctl.d/60-tidepool.conf")


def ensure_limits(proc_sys: Path = Path("/proc/sys"), persist: Path = PERSIST_FILE) -> StepResult:
    """Raise each limit to at least its target, now and at the next boot; never lower one."""
    raised = []
    for key, minimum in LIMITS.items():
        path = proc_sys / key.replace(".", "/")
        current = int(path.read_text().split()[0])
        if current < minimum:
            path.write_text(f"{minimum}\n")
            raised.append(f"{key} {current} -> {minimum}")
    wanted = "".join(f"{key} = {value}\n" for key, value in LIMITS.items())
    if not persist.exists() or persist.read_text() != wanted:
        persist.parent.mkdir(parents=True, exist_ok=True)
        persist.write_text(wanted)
        raised.append(f"wrote {persist}")
    if raised:
        return StepResult("kernel limits", True, "; ".join(raised))
    return StepResult("kernel limits", False, "inotify and map limits already raised")
