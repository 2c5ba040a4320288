"""A workspace's setup at its start, told line by line in the workspace's log: the owner's
git credentials handed to git, the repository cloned into home as its user, the owner's
dotfiles installed.

Setup never fails a workspace: what went wrong is in the workspace's log (events of kind
``log``), and the IDE opens all the same, on a home without the repository. A clone that
worked is not done again (a marker in home says so); one that failed is tried again at the
next start. A clone cut short by a crash leaves only a scratch folder, cleared first.

What blocks "running", and what runs behind it: before the workspace is routed, only the
folder the IDE opens on is made (one short call). The clone runs after, behind the open IDE
(``SetupRunner``), because it takes as long as the repository's host makes it take: a host
that does not answer costs the user nothing but a line in the log, after the bounded first
contact (``setup_scripts.CONTACT_SECONDS``). Its files appear in the open folder when it is
done.

The URL, the branch and the folder reach the scripts as environment variables, never as
shell text. A git credential's secret reaches the workspace only as a file in ``/run``
(memory; gone at stop) that only the workspace's user can read, named to git's ``store``
helper: never on a command line, in an environment or in the log.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping

from tidepool.domain.names import InstanceName
from tidepool.domain.personal import Personal, credential_store_file
from tidepool.domain.workspace import Workspace
from tidepool.errors import TidepoolError
from tidepool.ports import ExecResult, Runtime, WorkspaceStore
from tidepool.services import setup_scripts as scripts
from tidepool.services.step_output import POLL_SECONDS, READ_BYTES, follow

log = logging.getLogger(__name__)

#: The workspace user's uid, and its home.
WORKSPACE_UID = 1000
HOME = "/home/dev"
#: How long a clone may take in all before it counts as failed (a slow one that still
#: moves; one that stalls is given up after ``setup_scripts.STALL_SECONDS``).
CLONE_SECONDS = 600.0
#: How long the folder may take to be made.
PREPARE_SECONDS = 30.0
#: Where a step's output is kept inside the workspace while it runs.
STEP_LOGS = f"{HOME}/.tidepool/setup"
#: The phases that open and close a setup in the workspace's events: a setup that opened
#: and never closed was cut short (``SetupRunner`` runs it again).
STARTED, FINISHED = "setup_started", "setup_finished"

#: A user's dotfiles and git credentials, by user name (``PersonalFiles.personal``).
PersonalOf = Callable[[str], Personal]


def _nothing_personal(user: str) -> Personal:
    return Personal()


class Setup:
    """Runs a workspace's setup steps and tells their output in its log as it comes."""

    def __init__(
        self,
        runtime: Runtime,
        store: WorkspaceStore,
        poll: float = POLL_SECONDS,
        personal_of: PersonalOf = _nothing_personal,
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._poll = poll
        self._personal_of = personal_of

    def needed(self, workspace: Workspace) -> bool:
        """Whether there is anything to set up (a workspace with nothing costs no call)."""
        personal = self._personal_of(workspace.owner)
        return workspace.repository is not None or bool(personal.dotfiles or personal.credentials)

    async def prepare(self, workspace: Workspace, instance: InstanceName) -> None:
        """Make the folder the IDE opens on. A failure is only logged: the IDE opens on
        whatever is there."""
        if workspace.repository is None:
            return
        try:
            done = await self._runtime.exec(
                instance,
                ["sh", "-c", scripts.PREPARE_FOLDER],
                user=WORKSPACE_UID,
                env=self._environment(workspace),
                timeout=PREPARE_SECONDS,
            )
            problem = "" if done.ok else done.stdout + done.stderr
        except TidepoolError as error:
            problem = str(error)
        if problem:
            await self._store.add_event(
                workspace.id, "log", "clone", f"The folder could not be made: {problem}"
            )

    async def run(self, workspace: Workspace, instance: InstanceName) -> None:
        if not self.needed(workspace):
            return
        personal = self._personal_of(workspace.owner)
        await self._store.add_event(workspace.id, "phase", STARTED, "")
        if personal.credentials:
            await self._credentials(workspace, instance, personal)
        if workspace.repository is not None:
            await self._clone(workspace, instance)
        if personal.dotfiles is not None:
            await self._dotfiles(workspace, instance, personal)
        await self._store.add_event(workspace.id, "phase", FINISHED, "")

    async def _credentials(
        self, workspace: Workspace, instance: InstanceName, personal: Personal
    ) -> None:
        hosts = ", ".join(credential.host for credential in personal.credentials)
        try:
            await self._runtime.push_file(
                instance,
                scripts.CREDENTIALS_PATH,
                credential_store_file(personal.credentials),
                mode=0o600,
                uid=WORKSPACE_UID,
                gid=WORKSPACE_UID,
            )
            done = await self._runtime.exec(
                instance,
                ["sh", "-c", scripts.CREDENTIAL_HELPER],
                timeout=PREPARE_SECONDS,
            )
            told = (
                f"Git uses your credentials for {hosts}."
                if done.ok
                else f"Git was not told of your credentials: {done.stdout + done.stderr}"
            )
        except TidepoolError as error:
            told = f"Your git credentials could not be put in place: {error}"
        await self._tell(workspace, "credentials", told)

    async def _clone(self, workspace: Workspace, instance: InstanceName) -> None:
        source = workspace.repository
        assert source is not None
        environment = {"TIDEPOOL_REPOSITORY": source.url, "TIDEPOOL_BRANCH": source.branch}
        ok = await self._step(workspace, instance, "clone", scripts.CLONE, environment)
        if not ok:
            await self._tell(
                workspace,
                "clone",
                "The clone failed; the workspace runs without it (it is tried again at the"
                " next start).",
            )
            log.warning("workspace %s: clone of %s failed", workspace.name, source.url)
        await self._store.add_event(workspace.id, "phase", "cloned" if ok else "clone_failed", "")

    async def _dotfiles(
        self, workspace: Workspace, instance: InstanceName, personal: Personal
    ) -> None:
        dotfiles = personal.dotfiles
        assert dotfiles is not None
        environment = {"TIDEPOOL_DOTFILES": dotfiles.url, "TIDEPOOL_BRANCH": dotfiles.branch}
        if not await self._step(workspace, instance, "dotfiles", scripts.DOTFILES, environment):
            await self._tell(
                workspace,
                "dotfiles",
                "The dotfiles were not installed (they are tried again at the next start).",
            )

    def _environment(self, workspace: Workspace, **more: str) -> dict[str, str]:
        return {
            "HOME": HOME,
            "USER": "dev",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "GIT_TERMINAL_PROMPT": "0",  # a private repository fails at once, never waits
            "TIDEPOOL_FOLDER": workspace.repository.folder if workspace.repository else "",
            "TIDEPOOL_CONTACT_SECONDS": str(scripts.CONTACT_SECONDS),
            "GIT_HTTP_LOW_SPEED_LIMIT": str(scripts.STALL_BYTES_PER_SECOND),
            "GIT_HTTP_LOW_SPEED_TIME": str(scripts.STALL_SECONDS),
            **more,
        }

    async def _tell(self, workspace: Workspace, step: str, text: str) -> None:
        await self._store.add_event(workspace.id, "log", step, text)

    async def _step(
        self,
        workspace: Workspace,
        instance: InstanceName,
        step: str,
        script: str,
        environment: Mapping[str, str],
    ) -> bool:
        """Run ``script`` as the user, its output told as it comes; True when it worked."""
        env = self._environment(workspace, TIDEPOOL_LOG=f"{STEP_LOGS}/{step}.log", **environment)

        async def read(offset: int) -> bytes:
            argv = ["sh", "-c", scripts.READ_LOG, "tidepool-setup", str(offset + 1)]
            done = await self._runtime.exec(
                instance, [*argv, str(READ_BYTES)], user=WORKSPACE_UID, env=env, timeout=30
            )
            try:
                return base64.b64decode(done.stdout, validate=True)
            except binascii.Error:  # not what the script prints: read it again next time
                return b""

        async def emit(text: str) -> None:
            await self._tell(workspace, step, text)

        run = self._runtime.exec(
            instance,
            ["sh", "-c", scripts.STREAMED, "tidepool-setup", script],
            user=WORKSPACE_UID,
            env=env,
            timeout=CLONE_SECONDS,
        )
        try:
            done: ExecResult = await follow(run, read, emit, self._poll)
        except TidepoolError as error:
            await emit(f"The {step} could not run: {error}")
            return False
        return done.ok
