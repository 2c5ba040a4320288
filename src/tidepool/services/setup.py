"""A workspace's setup at its first boot: its repository cloned into home, as its user.

Setup never fails a workspace: what went wrong is in the workspace's log (events of kind
``log``), and the IDE opens all the same, on a home without the repository. A clone that
worked is not done again (a marker in home says so); one that failed is tried again at the
next start. A clone cut short by a crash leaves only a scratch folder, cleared first.

The URL, the branch and the folder reach the script as environment variables, never as
shell text.
"""

from __future__ import annotations

import logging

from tidepool.domain.names import InstanceName
from tidepool.domain.workspace import Workspace
from tidepool.errors import TidepoolError
from tidepool.ports import Runtime, WorkspaceStore

log = logging.getLogger(__name__)

#: The workspace user's uid, and its home.
WORKSPACE_UID = 1000
HOME = "/home/dev"
#: How long a clone may take before it counts as failed.
CLONE_SECONDS = 600.0
#: How much of a step's output the log keeps (its end: where the error is).
LOG_BYTES = 16_384
CLONE_SCRIPT = """set -e
marker="$HOME/.tidepool/cloned"
if [ -e "$marker" ]; then echo "Cloned at an earlier boot."; exit 0; fi
target="$HOME/$TIDEPOOL_FOLDER"
if [ -e "$target" ]; then echo "$target exists already: not cloning over it."; exit 1; fi
mkdir -p "$HOME/.tidepool"
rm -rf "$HOME/.tidepool/clone"
echo "Cloning $TIDEPOOL_REPOSITORY${TIDEPOOL_BRANCH:+ (branch $TIDEPOOL_BRANCH)} into $target"
git clone --progress ${TIDEPOOL_BRANCH:+--branch "$TIDEPOOL_BRANCH"} -- \\
    "$TIDEPOOL_REPOSITORY" "$HOME/.tidepool/clone" 2>&1
mv "$HOME/.tidepool/clone" "$target"
touch "$marker"
echo "Cloned into $target."
"""


class Setup:
    """Runs the first-boot steps of a workspace and keeps their output in its log."""

    def __init__(self, runtime: Runtime, store: WorkspaceStore) -> None:
        self._runtime = runtime
        self._store = store

    async def run(self, workspace: Workspace, instance: InstanceName) -> None:
        source = workspace.repository
        if source is None:
            return
        environment = {
            "HOME": HOME,
            "GIT_TERMINAL_PROMPT": "0",  # a private repository fails at once, never waits
            "TIDEPOOL_REPOSITORY": source.url,
            "TIDEPOOL_BRANCH": source.branch,
            "TIDEPOOL_FOLDER": source.folder,
        }
        try:
            done = await self._runtime.exec(
                instance,
                ["sh", "-c", CLONE_SCRIPT],
                user=WORKSPACE_UID,
                env=environment,
                timeout=CLONE_SECONDS,
            )
            output, ok = done.stdout + done.stderr, done.exit_code == 0
        except TidepoolError as error:
            output, ok = f"The clone could not run: {error}", False
        if not ok:
            output += (
                "\nThe clone failed; the workspace runs without it (it is tried again at the"
                " next start)."
            )
            log.warning("workspace %s: clone of %s failed", workspace.name, source.url)
        await self._store.add_event(workspace.id, "log", "clone", output[-LOG_BYTES:])
        await self._store.add_event(workspace.id, "phase", "cloned" if ok else "clone_failed", "")
