"""One workspace's setup steps as they run inside it: each step's output told in its log as
it comes (``step_output.follow``), short calls whose output is kept whole, and what every
step's environment holds.

Everything a step gets from a user or a repository reaches it as an environment variable or
an argument, never as shell text (``setup_scripts``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from tidepool.domain.names import InstanceName
from tidepool.domain.workspace import Workspace
from tidepool.errors import TidepoolError
from tidepool.ports import ExecResult, Runtime, WorkspaceStore
from tidepool.services import setup_scripts as scripts
from tidepool.services.step_output import POLL_SECONDS, READ_BYTES, follow

#: The workspace user's uid, and its home.
WORKSPACE_UID = 1000
HOME = "/home/dev"
#: Where a step's output is kept inside the workspace while it runs.
STEP_LOGS = f"{HOME}/.tidepool/setup"
#: How long one streamed step may take (a clone, a lifecycle command, an extension).
STEP_SECONDS = 900.0
#: How long a short call may take (a file read, a setting written).
SHORT_SECONDS = 60.0


class SetupSteps:
    """Runs steps in one workspace and tells the workspace's log about them."""

    def __init__(
        self,
        runtime: Runtime,
        store: WorkspaceStore,
        workspace: Workspace,
        instance: InstanceName,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.workspace = workspace
        self.instance = instance
        self.store = store
        self._poll = poll
        folder = workspace.repository.folder if workspace.repository else ""
        #: Every step's environment: the user's, and the rules of every clone.
        self.env: dict[str, str] = {
            "HOME": HOME,
            "USER": "dev",
            # The IDE's own Node.js last, as in its terminals (``npm`` in a lifecycle command).
            "PATH": "/usr/local/bin:/usr/bin:/bin:/opt/tidepool/node/bin",
            "GIT_TERMINAL_PROMPT": "0",  # a private repository fails at once, never waits
            "TIDEPOOL_FOLDER": folder,
            "TIDEPOOL_CONTACT_SECONDS": str(scripts.CONTACT_SECONDS),
            "GIT_HTTP_LOW_SPEED_LIMIT": str(scripts.STALL_BYTES_PER_SECOND),
            "GIT_HTTP_LOW_SPEED_TIME": str(scripts.STALL_SECONDS),
        }

    @property
    def folder(self) -> str:
        """The repository's folder in home (home itself without a repository)."""
        name = self.env["TIDEPOOL_FOLDER"]
        return f"{HOME}/{name}" if name else HOME

    async def tell(self, step: str, text: str) -> None:
        await self.store.add_event(self.workspace.id, "log", step, text)

    async def phase(self, phase: str) -> None:
        await self.store.add_event(self.workspace.id, "phase", phase, "")

    async def call(
        self,
        script: str,
        *args: str,
        user: int | None = WORKSPACE_UID,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """A short script, its output kept whole; ``TidepoolError`` if it could not run."""
        return await self.runtime.exec(
            self.instance,
            ["sh", "-c", script, "tidepool-setup", *args],
            user=user,
            env={**self.env, **(env or {})},
            timeout=SHORT_SECONDS,
        )

    async def run(
        self,
        label: str,
        script: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        log_name: str = "",
    ) -> bool:
        """``script`` (with ``args``) as the user, its output told under ``label`` as it
        comes; True when it worked. Steps that run side by side need their own ``log_name``."""
        log_file = f"{STEP_LOGS}/{log_name or label}.log"
        step_env = {**self.env, **(env or {}), "TIDEPOOL_LOG": log_file}

        async def read(offset: int) -> bytes:
            argv = ["sh", "-c", scripts.READ_LOG, "tidepool-setup", str(offset + 1)]
            done = await self.runtime.exec(
                self.instance,
                [*argv, str(READ_BYTES)],
                user=WORKSPACE_UID,
                env=step_env,
                timeout=30,
            )
            try:
                return base64.b64decode(done.stdout, validate=True)
            except binascii.Error:  # not what the script prints: read it again next time
                return b""

        async def emit(text: str) -> None:
            await self.tell(label, text)

        running = self.runtime.exec(
            self.instance,
            ["sh", "-c", scripts.STREAMED, "tidepool-setup", script, *args],
            user=WORKSPACE_UID,
            env=step_env,
            timeout=STEP_SECONDS,
        )
        try:
            done: ExecResult = await follow(running, read, emit, self._poll)
        except TidepoolError as error:
            await emit(f"It could not run: {error}")
            return False
        return done.ok
