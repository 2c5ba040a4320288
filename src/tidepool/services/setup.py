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

import logging
from collections.abc import Callable

from tidepool.domain.names import InstanceName
from tidepool.domain.personal import Personal, credential_store_file
from tidepool.domain.workspace import Workspace
from tidepool.errors import TidepoolError
from tidepool.ports import Runtime, WorkspaceStore
from tidepool.services import setup_scripts as scripts
from tidepool.services.devcontainer_setup import DevContainerSetup, TemplateImages
from tidepool.services.setup_steps import WORKSPACE_UID, SetupSteps
from tidepool.services.step_output import POLL_SECONDS

log = logging.getLogger(__name__)

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
        template_images: TemplateImages = dict,
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._poll = poll
        self._personal_of = personal_of
        self._devcontainer = DevContainerSetup(template_images)

    def needed(self, workspace: Workspace) -> bool:
        """Whether there is anything to set up (a workspace with nothing costs no call)."""
        return _needed(workspace, self._personal_of(workspace.owner))

    async def prepare(self, workspace: Workspace, instance: InstanceName) -> None:
        """Make the folder the IDE opens on. A failure is only logged: the IDE opens on
        whatever is there."""
        if workspace.repository is None:
            return
        steps = SetupSteps(self._runtime, self._store, workspace, instance, self._poll)
        try:
            done = await steps.call(scripts.PREPARE_FOLDER)
            problem = "" if done.ok else done.stdout + done.stderr
        except TidepoolError as error:
            problem = str(error)
        if problem:
            await steps.tell("clone", f"The folder could not be made: {problem}")

    async def run(self, workspace: Workspace, instance: InstanceName) -> None:
        personal = self._personal_of(workspace.owner)  # read once for the whole setup
        if not _needed(workspace, personal):
            return
        steps = SetupSteps(self._runtime, self._store, workspace, instance, self._poll)
        await steps.phase(STARTED)
        if personal.credentials:
            await _credentials(steps, personal)
        if workspace.repository is not None and await _clone(steps):
            await self._devcontainer.run(steps)
        if personal.dotfiles is not None:
            await _dotfiles(steps, personal)
        await steps.phase(FINISHED)


def _needed(workspace: Workspace, personal: Personal) -> bool:
    return workspace.repository is not None or bool(personal.dotfiles or personal.credentials)


async def _credentials(steps: SetupSteps, personal: Personal) -> None:
    hosts = ", ".join(credential.host for credential in personal.credentials)
    try:
        await steps.runtime.push_file(
            steps.instance,
            scripts.CREDENTIALS_PATH,
            credential_store_file(personal.credentials),
            mode=0o600,
            uid=WORKSPACE_UID,
            gid=WORKSPACE_UID,
        )
        done = await steps.call(scripts.CREDENTIAL_HELPER, user=None)
        told = (
            f"Git uses your credentials for {hosts}."
            if done.ok
            else f"Git was not told of your credentials: {done.stdout + done.stderr}"
        )
    except TidepoolError as error:
        told = f"Your git credentials could not be put in place: {error}"
    await steps.tell("credentials", told)


async def _clone(steps: SetupSteps) -> bool:
    """The repository into its folder; True when it is there (now or from an earlier boot)."""
    source = steps.workspace.repository
    assert source is not None
    environment = {"TIDEPOOL_REPOSITORY": source.url, "TIDEPOOL_BRANCH": source.branch}
    ok = await steps.run("clone", scripts.CLONE, env=environment)
    if not ok:
        await steps.tell(
            "clone",
            "The clone failed; the workspace runs without it (it is tried again at the next"
            " start).",
        )
        log.warning("workspace %s: clone of %s failed", steps.workspace.name, source.url)
    await steps.phase("cloned" if ok else "clone_failed")
    return ok


async def _dotfiles(steps: SetupSteps, personal: Personal) -> None:
    dotfiles = personal.dotfiles
    assert dotfiles is not None
    environment = {"TIDEPOOL_DOTFILES": dotfiles.url, "TIDEPOOL_BRANCH": dotfiles.branch}
    if not await steps.run("dotfiles", scripts.DOTFILES, env=environment):
        await steps.tell(
            "dotfiles",
            "The dotfiles were not installed (they are tried again at the next start).",
        )
