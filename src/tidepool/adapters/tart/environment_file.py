"""A Tart VM's environment file, delivered at its first start.

A Tart VM cannot be written to before its first boot, so the workspace's environment file is
kept in the VM's state directory and pushed to ``/etc/tidepool/workspace.env`` as soon as the
guest answers; code-server is then restarted to read it. A marker beside the file says it
was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tidepool.domain.environment import WORKSPACE_ENV_PATH
from tidepool.errors import RuntimeOperationError, TidepoolError, TimeoutExpiredError
from tidepool.ports import ExecResult

log = logging.getLogger(__name__)

#: Restarts code-server so that it reads a newly delivered environment file (OpenRC or systemd).
RESTART_CODE_SERVER = (
    "sh",
    "-c",
    "if command -v rc-service >/dev/null 2>&1; then rc-service code-server restart; "
    "elif command -v systemctl >/dev/null 2>&1; then systemctl try-restart code-server; fi",
)
ENV_FILE = "workspace.env"
ENV_DELIVERED = "workspace.env.delivered"


def environment_pending(directory: Path) -> bool:
    """A file waits in the VM's state ``directory`` and was not delivered yet."""
    return (directory / ENV_FILE).exists() and not (directory / ENV_DELIVERED).exists()


async def deliver_environment(
    directory: Path,
    name: str,
    *,
    push: Callable[[bytes], Awaitable[None]],
    restart: Callable[[], Awaitable[ExecResult]],
    timeout: float,
    poll: float,
) -> None:
    """Push the environment file once the guest answers, then restart code-server."""
    content = (directory / ENV_FILE).read_bytes()
    deadline = time.monotonic() + timeout
    while True:
        try:
            await push(content)
            break
        except (RuntimeOperationError, TimeoutExpiredError) as error:
            if time.monotonic() >= deadline:
                raise RuntimeOperationError(
                    f"Could not write {WORKSPACE_ENV_PATH} into {name!r} within "
                    f"{timeout:g}s: {error}"
                ) from error
            await asyncio.sleep(poll)
    (directory / ENV_DELIVERED).touch()
    try:
        result = await restart()
        if not result.ok:
            log.info("code-server was not restarted in %s: %s", name, result.stderr.strip())
    except TidepoolError as error:
        log.info("code-server was not restarted in %s: %s", name, error)
