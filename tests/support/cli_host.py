"""The real CLI, in a process of its own, against an in-process API on its socket: root on
the host, acting as the local owner (no sign-in)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from support.echo import serving
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.ports import WorkspaceStore
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store


@contextlib.asynccontextmanager
async def cli_host(
    data: Path,
    workspaces: WorkspaceService | None = None,
    store: WorkspaceStore | None = None,
    **plane: Any,
) -> AsyncIterator[dict[str, str]]:
    """The environment of a CLI whose API (with ``plane``'s extra ``ControlPlane`` fields,
    over ``workspaces`` and ``store`` if given) answers on ``data``'s socket while the block
    runs."""
    data.mkdir(parents=True, exist_ok=True)
    store = store or memory_store()[0]
    workspaces = workspaces or WorkspaceService(store, default_image="img")
    app = create_app(ControlPlane(workspaces, store, "http://tidepool.test", **plane))
    env = {
        **os.environ,
        "TIDEPOOL_DATA_DIR": str(data),
        "TIDEPOOL_CONFIG": str(data.parent / "none.toml"),
        "COLUMNS": "200",
    }
    async with serving(app, uds=str(data / "api.sock")):
        yield env


async def run_cli(
    env: dict[str, str], *argv: str, stdin: str = "", folded: bool = True
) -> tuple[int, str]:
    """``tidepool ARGV...``: its exit code and its output (whitespace folded, unless not)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidepool.cli",
        *argv,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await child.communicate(stdin.encode())
    assert child.returncode is not None
    text = out.decode()
    return child.returncode, " ".join(text.split()) if folded else text
