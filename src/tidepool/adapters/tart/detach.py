"""Start a long-lived command detached from its caller: ``python detach.py LOG -- ARGV...``.

``tart run`` runs as long as its VM. Started as a direct child of Tidepool it would be killed
when the asyncio transport that owns it is closed (the end of a CLI command does that) and
would need Tidepool to reap it. Started through this helper, which exits at once, it belongs to
the system's init (launchd on a Mac) in a session of its own: it outlives Tidepool and is reaped
by init. The helper prints the command's pid, and the command's output goes to ``LOG``.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: python detach.py LOG -- COMMAND...\n")
        return 2
    log_path, command = argv[0], argv[2:]
    with open(log_path, "ab") as log:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            sys.stderr.write(f"cannot start {command[0]}: {error.strerror}\n")
            return 127
    sys.stdout.write(f"{process.pid}\n")
    sys.stdout.flush()
    # Leave without waiting: the command is init's child from now on.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
