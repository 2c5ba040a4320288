"""Users' SSH keys into their workspaces: at each start, and within seconds of a change.

Each workspace's ``~dev/.ssh/authorized_keys`` gets its owner's keys in Tidepool's block
(``domain.authorized_keys``), and nothing else in the file changes. The file is read and
written as ``dev``, never as root, so a link the user put there cannot make Tidepool write
anywhere ``dev`` could not; the new file replaces the old by a rename, so sshd never reads
half of it. The keys travel in an environment variable of the command, never in its text.

``KeySync`` follows the key store: when it changes, every running workspace whose owner's
keys differ from what it last wrote there gets them (a removed key stops working within
``SYNC_SECONDS`` and one exec). A failure is logged and tried again at the next look; a
start does not fail for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence

from tidepool.domain.authorized_keys import merge
from tidepool.domain.workspace import Status, Workspace
from tidepool.errors import TidepoolError
from tidepool.ports import Runtime, WorkspaceStore
from tidepool.services.setup_steps import HOME, WORKSPACE_UID
from tidepool.services.workspaces import instance_name

log = logging.getLogger(__name__)

#: How often ``KeySync`` looks at the key store (a stat of one file).
SYNC_SECONDS = 2.0
#: Even with no change seen, every running workspace is looked at this often (a workspace
#: whose write failed, or whose file its user rewrote by hand).
FULL_SYNC_SECONDS = 300.0
#: The most of a user's ``authorized_keys`` Tidepool reads. The file is the user's: a larger
#: one, or one that is not a regular file (a FIFO, a link to ``/dev/zero``), is left alone
#: rather than read without end into the control plane or rewritten without what it held.
MAX_FILE_BYTES = 256 * 1024
_READ = (
    'f="$HOME/.ssh/authorized_keys"; [ -e "$f" ] || exit 0; '
    '[ -f "$f" ] || { echo "not a regular file" >&2; exit 3; }; '
    f'head -c {MAX_FILE_BYTES + 1} "$f"'
)
_WRITE = (
    'umask 077 && mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh" && '
    'printf %s "$TIDEPOOL_AUTHORIZED_KEYS" > "$HOME/.ssh/.authorized_keys.tidepool" && '
    'mv -f "$HOME/.ssh/.authorized_keys.tidepool" "$HOME/.ssh/authorized_keys"'
)
KeysOf = Callable[[str], Sequence[str]]


class KeyDelivery:
    """Writes one workspace's owner's keys into it (``keys_of(owner)``: their lines)."""

    def __init__(self, runtime: Runtime, keys_of: KeysOf) -> None:
        self._runtime = runtime
        self._keys_of = keys_of

    def wanted(self, owner: str) -> tuple[str, ...]:
        return tuple(self._keys_of(owner))

    async def deliver(self, workspace: Workspace, keys: Sequence[str] | None = None) -> bool:
        """Put the owner's keys (or ``keys``) in the running workspace; whether the file
        changed. ``TidepoolError`` when the instance could not be reached."""
        instance = instance_name(workspace)
        env = {"HOME": HOME}
        keys = self.wanted(workspace.owner) if keys is None else keys
        read = await self._runtime.exec(
            instance, ["sh", "-c", _READ], user=WORKSPACE_UID, env=env, timeout=10
        )
        if read.exit_code != 0:
            raise TidepoolError(f"authorized_keys not read: {read.stderr.strip()[:200]}")
        existing = read.stdout
        if len(existing.encode()) > MAX_FILE_BYTES:
            raise TidepoolError(f"authorized_keys is over {MAX_FILE_BYTES} bytes: left alone")
        merged = merge(existing, keys)
        if merged == existing:
            return False
        written = await self._runtime.exec(
            instance,
            ["sh", "-c", _WRITE],
            user=WORKSPACE_UID,
            env={**env, "TIDEPOOL_AUTHORIZED_KEYS": merged},
            timeout=10,
        )
        if written.exit_code != 0:
            raise TidepoolError(f"authorized_keys not written: {written.stderr.strip()[:200]}")
        return True

    async def at_start(self, workspace: Workspace) -> None:
        """At a start, before the workspace is said to run; a failure is only logged."""
        try:
            await self.deliver(workspace)
        except TidepoolError as error:
            log.warning("workspace %s: SSH keys not written at start: %s", workspace.name, error)


class KeySync:
    """Keeps running workspaces' keys in step with the key store."""

    def __init__(
        self,
        delivery: KeyDelivery,
        store: WorkspaceStore,
        version: Callable[[], object],
        clock: Callable[[], float],
    ) -> None:
        self._delivery = delivery
        self._store = store
        self._version = version
        self._clock = clock
        #: Workspace id -> digest of the keys last written there.
        self._written: dict[str, str] = {}
        self._seen: object = None
        self._full_at = 0.0
        #: A workspace was not written at the last look: look again without a change.
        self._behind = False

    async def keep(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.look()
            except TidepoolError as error:
                log.warning("syncing SSH keys failed, will try again: %s", error)
            except Exception:
                log.exception("syncing SSH keys crashed, will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SYNC_SECONDS)

    async def look(self) -> int:
        """One look: how many workspaces were written to."""
        version = self._version()
        full = self._clock() >= self._full_at
        if version == self._seen and not full and not self._behind:
            return 0
        self._seen = version
        if full:
            self._written.clear()
            self._full_at = self._clock() + FULL_SYNC_SECONDS
        page = await self._store.list(status=Status.RUNNING, limit=10_000)
        written = 0
        self._behind = False
        for workspace in page.items:
            keys = self._delivery.wanted(workspace.owner)
            digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()
            if self._written.get(workspace.id) == digest:
                continue
            try:
                written += await self._delivery.deliver(workspace, keys)
            except TidepoolError as error:
                log.warning("workspace %s: SSH keys not written: %s", workspace.name, error)
                self._behind = True
                continue
            self._written[workspace.id] = digest
        return written
