"""Running host commands: argv lists only, never a shell, failures as typed errors."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

from tidepool.errors import HostSetupError


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    error: type[Exception] = HostSetupError,
    timeout: float = 1800,
    input_text: str | None = None,
) -> str:
    """Run ``argv``, return its stdout; raise ``error`` quoting its output if it fails."""
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            list(argv),
            env=full_env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as missing:
        raise error(f"{argv[0]} is not installed.") from missing
    except subprocess.TimeoutExpired as slow:
        raise error(f"{' '.join(argv)} took longer than {timeout}s.") from slow
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise error(f"{' '.join(argv)} failed (exit {done.returncode}):\n" + "\n".join(tail))
    return done.stdout
