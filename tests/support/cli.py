"""Run Tidepool's CLI as a user does: a separate process, output captured, never raising."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tidepool(
    *argv: str, timeout: float = 1800, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``tidepool ARGV...`` from the project's root with this interpreter, on a console wide
    enough that tables keep a row on one line; ``env`` replaces the environment (a private
    data directory and port, say)."""
    return subprocess.run(
        [sys.executable, "-m", "tidepool.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env={**(os.environ if env is None else env), "COLUMNS": "200"},
    )
