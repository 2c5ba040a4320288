"""The warm pool's keeper, and the hand-over of a pool instance to a new workspace.

``PoolKeeper.keep`` runs beside the worker: every pass it reads the runtime's instances,
drains those of a pool no template asks for any more (a new image, another size, a pool made
smaller), starts the ones missing, and notes which are ready (running, their IDE answering).
A create asks ``candidates`` for those, and the reconciler takes one (``Runtime.take``, a
compare-and-swap, so only one create ever has it) and calls ``hand_over``: the workspace's
environment file is written and code-server restarted to read it. Everything else that makes
an instance someone's is its own from its first boot: its machine-id, its SSH host keys where
the image has them, its hostname (its instance name, like any workspace's), and nobody was
ever in it.

The keeper's state is the runtime's: pool instances are found by the owner they record
(``tidepool.domain.pool``), so a restarted ``serve`` finds its pool where it left it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from tidepool.domain.environment import WORKSPACE_ENV_PATH, render_env_file
from tidepool.domain.names import InstanceName, instance_name_for
from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.pool import (
    DRAIN_MARK,
    PoolSpec,
    drain_owner,
    is_unheld,
    pool_key,
    pool_key_of,
    pool_owner,
)
from tidepool.domain.workspace import Workspace
from tidepool.errors import NotFoundError, RuntimeOperationError, TidepoolError
from tidepool.ports import InstanceSpec, InstanceState, InstanceStatus, Runtime
from tidepool.services.ide import ide_healthy

log = logging.getLogger(__name__)

#: How often the keeper looks again when nothing wakes it.
KEEP_INTERVAL = 2.0
RESTART_IDE = ["systemctl", "restart", "code-server"]


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """One pool as the last pass saw it (what admins are shown)."""

    template: str
    size: int
    ready: int
    starting: int
    image: str
    cpus: int
    memory_mib: int


class PoolKeeper:
    def __init__(
        self,
        runtime: Runtime,
        specs: Sequence[PoolSpec],
        http: httpx.AsyncClient,
        *,
        installation: str,
        prefix: str,
        interval: float = KEEP_INTERVAL,
    ) -> None:
        self._runtime = runtime
        self._specs = [spec for spec in specs if spec.size > 0]
        self._http = http
        self._installation = installation
        self._prefix = prefix
        self._interval = interval
        #: Each pool's key, as of the last pass (None until its image was found).
        self._keys: dict[str, str] = {}
        #: Ready instances per key, as of the last pass, less those handed out since.
        self._ready: dict[str, list[str]] = {}
        self._status: list[PoolStatus] = []
        self._wake = asyncio.Event()

    def status(self) -> list[PoolStatus]:
        """Each pool as the last pass saw it."""
        return list(self._status)

    def next_candidate(self, workspace: Workspace) -> tuple[InstanceName, InstanceOwner] | None:
        """A ready instance a create of ``workspace`` may try to take, with the owner it
        records; None if no pool fits its image and size or none is ready. Each is handed out
        once by this process (another process's take is what ``Runtime.take`` refuses)."""
        for spec in self._specs:
            key = self._keys.get(spec.template)
            if key is None or not spec.fits(workspace.image, workspace.size):
                continue
            self._wake.set()  # a refill, now
            ready = self._ready.get(key) or []
            if ready:
                return InstanceName(ready.pop(0)), pool_owner(self._installation, key)
        return None

    async def keep(self, stop: asyncio.Event) -> None:
        """Keep every pool full until ``stop``; a pass that fails is logged and tried again."""
        while not stop.is_set():
            try:
                await self.keep_once()
            except TidepoolError as error:
                log.warning("keeping the warm pool failed, will try again: %s", error)
            except Exception:
                log.exception("keeping the warm pool crashed, will try again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def keep_once(self) -> None:
        """One pass: drain what no pool wants, note what is ready, start what is missing."""
        await self._learn_keys()
        wanted = {self._keys[s.template]: s for s in self._specs if s.template in self._keys}
        unheld = [i for i in await self._runtime.list() if is_unheld(i.owner, self._installation)]
        by_key: dict[str, list[InstanceState]] = {key: [] for key in wanted}
        for instance in unheld:
            key = pool_key_of(instance.owner, self._installation)
            healthy = instance.status in (InstanceStatus.RUNNING, InstanceStatus.STARTING)
            if key in wanted and healthy:
                by_key[key].append(instance)
            else:
                await self._drain(instance)
        status = []
        for key, spec in wanted.items():
            waiting = sorted(by_key[key], key=lambda i: i.name)
            for extra in waiting[spec.size :]:
                await self._drain(extra)
            waiting = waiting[: spec.size]
            ready = [i.name for i in waiting if i.ipv4 and await ide_healthy(self._http, i.ipv4)]
            self._ready[key] = ready
            status.append(
                PoolStatus(
                    spec.template,
                    spec.size,
                    len(ready),
                    len(waiting) - len(ready),
                    spec.image,
                    spec.cpus,
                    spec.memory_mib,
                )
            )
            for _ in range(spec.size - len(waiting)):
                await self._fill(spec, key)
        self._status = status

    async def _learn_keys(self) -> None:
        for spec in self._specs:
            try:
                self._keys[spec.template] = pool_key(spec, await self._runtime.image_id(spec.image))
            except NotFoundError as error:
                self._keys.pop(spec.template, None)
                log.warning("no warm pool for template %s: %s", spec.template, error)

    async def _fill(self, spec: PoolSpec, key: str) -> None:
        """Make and start one instance of pool ``key`` (it is ready at a later pass)."""
        name = instance_name_for(self._prefix, uuid.uuid4().hex)
        await self._runtime.create(
            InstanceSpec(
                name=name,
                image=spec.image,
                cpus=spec.cpus,
                memory_mib=spec.memory_mib,
                disk_gib=spec.disk_gib,
                owner=pool_owner(self._installation, key),
            )
        )
        await self._runtime.start(name)
        log.info("warm pool %s: started %s", spec.template, name)

    async def _drain(self, instance: InstanceState) -> None:
        """Delete an instance no one ever held: taken first for a drain mark, so that a
        create cannot take it in the same moment (and one taken already is left alone)."""
        owner = instance.owner
        if owner is None or not is_unheld(owner, self._installation):
            return
        name = InstanceName(instance.name)
        if not owner.workspace_id.startswith(DRAIN_MARK):
            key = owner.workspace_id.partition(":")[2]
            if not await self._runtime.take(name, owner, drain_owner(self._installation, key)):
                return
        with contextlib.suppress(NotFoundError):
            await self._runtime.delete(name)
        log.info("warm pool: drained %s", name)


async def hand_over(runtime: Runtime, instance: InstanceName, workspace: Workspace) -> None:
    """Make a taken pool instance ``workspace``'s: its environment file, read by code-server
    at its start, so code-server is started again. Running it twice does the same."""
    env_file = render_env_file({"WORKSPACE_NAME": workspace.name})
    await runtime.push_file(instance, WORKSPACE_ENV_PATH, env_file)
    restarted = await runtime.exec(instance, RESTART_IDE, timeout=60)
    if not restarted.ok:
        raise RuntimeOperationError(
            f"code-server did not restart in {instance}: {restarted.stderr.strip()[-500:]}"
        )
