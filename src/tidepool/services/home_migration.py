"""Runs the migration of an older workspace's home onto its own volume (issue 29).

``domain.home_migration.next_step`` decides; this module reads the facts it decides from and
takes the one step it names, then reads them again, until ``DONE``. Nothing is recorded
between steps, so a run killed anywhere (SIGKILL included) leaves only facts, and the next
run reads them and goes on:

- whether the volume exists, and whose it is: ``HomeVolumes.get`` (a volume of that name
  recording another owner is refused, never mounted);
- whether it is home: ``HomeVolumes.mounts`` of the instance;
- whether the instance runs: ``Runtime.state``;
- whether a whole copy is in it: its marker, read from inside the running instance with the
  volume mounted beside home. Once seen, it stays a fact for the rest of that run; a stopped
  instance in a run that has not seen it cannot say, so it counts as not copied and is
  started again (after a crash past the copy's stop: a start and a stop more, never a file).

The marker counts only when it belongs to root: ``~/.tidepool`` is the user's, and a
``home-copied`` file they made there must not end a copy halfway. Every command runs as an
argv list, with paths that are constants: no name of anything reaches a shell.

A copy whose caller was killed goes on running inside the instance (the runtime, not the
caller, owns it): each copy holds a lock in the instance's ``/run`` for its whole run, so the
next copy waits for the orphan to finish instead of racing it, and the instance is stopped
only after a copy that was waited for.
"""

from __future__ import annotations

from collections.abc import Callable

from tidepool.domain.home_migration import COPIED_MARKER, COPY_PATH, Facts, Step, next_step
from tidepool.domain.names import InstanceName
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import ConflictError, NotFoundError, RuntimeOperationError
from tidepool.ports import ExecResult, InstanceStatus, Runtime
from tidepool.ports.volumes import HOME_PATH, HomeVolumes

#: The boundary reported to ``reached`` after each step, by step.
STEP_DONE = {
    Step.MAKE_VOLUME: "home_volume_made",
    Step.START: "home_instance_started",
    Step.COPY: "home_copied",
    Step.STOP: "home_instance_stopped",
    Step.ATTACH: "home_attached",
}
#: Boundaries inside the copy: the volume mounted beside home, and the marker written.
COPY_MOUNTED = "home_copy_mounted"
COPY_MARKED = "home_copy_marked"
#: Every boundary of a migration from the start, in the order a first run passes them.
STEPS = (
    "home_volume_made",
    "home_instance_started",
    COPY_MOUNTED,
    COPY_MARKED,
    "home_copied",
    "home_instance_stopped",
    "home_attached",
)
MARKER = f"{COPY_PATH}/{COPIED_MARKER}"
#: In ``/run`` (gone at a stop, as the copy holding it is): one copy at a time.
COPY_LOCK = "/run/tidepool-home-copy.lock"
COPY = ["flock", COPY_LOCK, "cp", "-a", f"{HOME_PATH}/.", f"{COPY_PATH}/"]
#: The workspace user, who owns home and the volume.
USER_ID = 1000
#: A home of many gigabytes on a slow disk still copies within this.
COPY_TIMEOUT = 6 * 3600.0
#: More steps than any plan has: a step that changes nothing is a bug, not a loop.
MAX_STEPS = 12


def _nowhere(step: str) -> None:
    """The default ``reached``: a step boundary is nothing to anyone."""


class HomeMigration:
    def __init__(
        self, runtime: Runtime, volumes: HomeVolumes, reached: Callable[[str], None] = _nowhere
    ) -> None:
        self._runtime = runtime
        self._volumes = volumes
        self._reached = reached

    async def migrate(
        self,
        instance: InstanceName,
        volume: str,
        owner: InstanceOwner,
        *,
        size_gib: int | None = None,
    ) -> None:
        """Put ``instance``'s home on ``volume`` (made for ``owner``, of ``size_gib``, if
        missing). Ends with the
        instance stopped and the volume mounted at ``HOME_PATH`` (the caller starts it), or
        returns at once for an instance whose home is that volume already."""
        # A marker seen stays true for the rest of this run (nothing removes one): the stop
        # after the copy must not make it unknown, and so the copy again due.
        seen = False
        for _ in range(MAX_STEPS):
            facts = await self._facts(instance, volume, owner, seen)
            seen = facts.copied
            step = next_step(facts)
            if step is Step.DONE:
                return
            await self._take(step, instance, volume, owner, size_gib)
            self._reached(STEP_DONE[step])
        raise RuntimeOperationError(f"The home of {instance!r} did not reach its volume.")

    async def _facts(
        self, instance: InstanceName, volume: str, owner: InstanceOwner, seen: bool
    ) -> Facts:
        try:
            found = await self._volumes.get(volume)
        except NotFoundError:
            found = None
        if found is not None and found.owner != owner:
            raise ConflictError(f"Home volume {volume!r} is not this workspace's.")
        home = (await self._volumes.mounts(instance)).get(HOME_PATH)
        if home not in (None, volume):
            raise ConflictError(f"The home of {instance!r} is another volume, {home!r}.")
        running = (await self._runtime.state(instance)).status is InstanceStatus.RUNNING
        attached = home == volume
        copied = found is not None and not attached and seen
        if found is not None and running and not attached and not seen:
            copied = await self._marked(instance, volume)
        return Facts(found is not None, attached, copied, running)

    async def _marked(self, instance: InstanceName, volume: str) -> bool:
        """Whether the volume holds a whole copy; leaves it mounted beside home."""
        await self._mount_copy(instance, volume)
        owner = await self._run(instance, ["stat", "-c", "%u", MARKER], check=False)
        return owner.ok and owner.stdout.strip() == "0"

    async def _take(
        self,
        step: Step,
        instance: InstanceName,
        volume: str,
        owner: InstanceOwner,
        size_gib: int | None,
    ) -> None:
        if step is Step.MAKE_VOLUME:
            await self._volumes.create(volume, owner, size_gib=size_gib)
        elif step is Step.START:
            await self._runtime.start(instance)
        elif step is Step.COPY:
            await self._copy(instance, volume)
        elif step is Step.STOP:
            await self._volumes.detach(instance, COPY_PATH)
            await self._runtime.stop(instance)
        elif step is Step.ATTACH:
            await self._volumes.detach(instance, COPY_PATH)
            await self._volumes.attach(volume, instance)

    async def _copy(self, instance: InstanceName, volume: str) -> None:
        # Nothing may write home while it is copied: wait for the boot to settle (or code-server
        # would start after it was stopped), then stop the IDE. Either may fail on an image
        # without them; the copy goes on.
        await self._run(
            instance, ["timeout", "60", "systemctl", "is-system-running", "--wait"], check=False
        )
        await self._run(instance, ["systemctl", "stop", "code-server"], check=False)
        await self._mount_copy(instance, volume)
        self._reached(COPY_MOUNTED)
        await self._run(instance, COPY, timeout=COPY_TIMEOUT)
        await self._run(instance, ["sync"])
        # The marker last, after the copy is on disk: a copy cut short has none. Made new, as
        # root: one the user left in home was copied in with their owner (or as a link).
        await self._run(instance, ["mkdir", "-p", f"{COPY_PATH}/.tidepool"], user=USER_ID)
        await self._run(instance, ["rm", "-f", MARKER])
        await self._run(instance, ["touch", MARKER])
        await self._run(instance, ["sync"])
        self._reached(COPY_MARKED)
        await self._volumes.detach(instance, COPY_PATH)

    async def _mount_copy(self, instance: InstanceName, volume: str) -> None:
        """Mount the volume beside home and check it is there: a copy into the root
        filesystem's empty ``COPY_PATH`` would be lost, and its marker would lie."""
        await self._volumes.attach(volume, instance, path=COPY_PATH)
        mounted = await self._run(instance, ["mountpoint", "-q", COPY_PATH], check=False)
        if not mounted.ok:
            raise RuntimeOperationError(f"Home volume {volume!r} is not mounted at {COPY_PATH}.")

    async def _run(
        self,
        instance: InstanceName,
        argv: list[str],
        *,
        user: int | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> ExecResult:
        done = await self._runtime.exec(instance, argv, user=user, timeout=timeout)
        if check and not done.ok:
            raise RuntimeOperationError(
                f"`{' '.join(argv)}` in {instance!r} exited {done.exit_code}: {done.stderr.strip()}"
            )
        return done
