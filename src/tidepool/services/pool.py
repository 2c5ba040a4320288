"""The warm pool's keeper, and the hand-over of a pool instance to a new workspace.

``PoolKeeper.keep`` runs beside the worker: every pass (every 2 s) it looks at the pool's
instances (all of the runtime's every ``LIST_EVERY`` passes, its own one by one between),
drains those of a pool no template asks for any more (a new image, another size, a pool made
smaller), starts the ones missing, and notes which are ready (running, their IDE answering,
their first workbench page served).
A create asks ``next_candidate`` for one, and the reconciler takes it (``Runtime.take``, a
compare-and-swap, so only one create ever has it). Nothing in it is changed for the hand-over:
what makes an instance someone's is its own from its first boot, as a cold one's is (its
machine-id, its code-server's secret, its SSH host keys where the image has them, its
hostname: its instance name, like any workspace's), nobody was ever in it, and the
workspace's name reaches its IDE after the boot in both cases (``services.naming``).

The keeper's state is the runtime's: pool instances are found by the owner they record
(``tidepool.domain.pool``), so a restarted ``serve`` finds its pool where it left it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import httpx

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
from tidepool.errors import NotFoundError, TidepoolError
from tidepool.ports import InstanceSpec, InstanceState, InstanceStatus, Runtime
from tidepool.services.ide import ask_for_workbench, ide_healthy

log = logging.getLogger(__name__)
#: What a pool instance may be doing and still be waited for.
UP = (InstanceStatus.RUNNING, InstanceStatus.STARTING)

#: How often the keeper looks again.
KEEP_INTERVAL = 2.0
#: A refill waits this long after the last take: making an instance costs the host a second
#: of CPU, which the create that took one (and its first page) should not share.
REFILL_AFTER_TAKE = 1.5
#: Every this many passes it reads every instance and the images' ids (a list is costly for
#: incusd when many instances run: it was felt by the creates beside it); in between, it asks
#: after the pool instances it knows, one by one.
LIST_EVERY = 15


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
        list_every: int = LIST_EVERY,
        refill_after_take: float = REFILL_AFTER_TAKE,
    ) -> None:
        self._runtime = runtime
        self._specs = [spec for spec in specs if spec.size > 0]
        self._http = http
        self._installation = installation
        self._prefix = prefix
        self._interval = interval
        self._list_every = list_every
        self._passes = 0
        self._refill_after_take = refill_after_take
        self._last_take = -refill_after_take
        #: The instances of each pool, as last seen (an owner only from a full list).
        self._known: dict[str, list[InstanceState]] = {}
        #: Those handed to a create since the last full list: never counted as waiting again.
        self._handed: set[str] = set()
        #: Each pool's key, as of the last pass (None until its image was found).
        self._keys: dict[str, str] = {}
        #: Ready instances per key, as of the last pass, less those handed out since.
        self._ready: dict[str, list[str]] = {}
        self._status: list[PoolStatus] = []
        #: The instances whose workbench page was asked for once (``_warm``).
        self._warmed: set[str] = set()
        #: Whether this pass may fill and drain (the leader's), or only look (``keep``).
        self._changing = True

    def status(self) -> list[PoolStatus]:
        """Each pool as the last pass saw it, less what creates took since."""
        return [
            replace(status, ready=len(self._ready.get(self._keys.get(status.template, ""), [])))
            for status in self._status
        ]

    def next_candidate(self, workspace: Workspace) -> tuple[InstanceName, InstanceOwner] | None:
        """A ready instance a create of ``workspace`` may try to take, with the owner it
        records; None if no pool fits its image and size or none is ready. Each is handed out
        once by this process (another process's take is what ``Runtime.take`` refuses)."""
        for spec in self._specs:
            key = self._keys.get(spec.template)
            if key is None or not spec.fits(workspace.image, workspace.size):
                continue
            ready = self._ready.get(key) or []
            if ready:
                name = ready.pop(0)
                self._handed.add(name)
                self._last_take = time.monotonic()
                return InstanceName(name), pool_owner(self._installation, key)
        return None

    async def keep(self, stop: asyncio.Event, leading: Callable[[], bool] = lambda: True) -> None:
        """Keep every pool full until ``stop``; a pass that fails is logged and tried again.
        Only while ``leading`` does it fill and drain: two control planes refilling at once
        would make every pool twice its size. The others look, so their creates take from
        the pool too (a take is a compare-and-swap on the instance: one taker wins)."""
        while not stop.is_set():
            try:
                await self.keep_once(change=leading())
            except TidepoolError as error:
                log.warning("keeping the warm pool failed, will try again: %s", error)
            except Exception:
                log.exception("keeping the warm pool crashed, will try again")
            # (a take does not hurry the refill: making an instance beside a create in
            # flight would slow that create down)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def keep_once(self, change: bool = True) -> None:
        """One pass: drain what no pool wants, note what is ready, start what is missing
        (only noting, unless ``change``)."""
        self._changing = change
        if self._passes % self._list_every == 0:
            await self._list_all()
        else:
            await self._ask_after_known()
        self._passes += 1
        wanted = {self._keys[s.template]: s for s in self._specs if s.template in self._keys}
        by_key = {
            key: [i for i in self._known.get(key, []) if i.name not in self._handed]
            for key in wanted
        }
        status = []
        for key, spec in wanted.items():
            waiting = sorted(by_key[key], key=lambda i: i.name)
            for extra in waiting[spec.size :]:
                await self._drain(extra)
            waiting = waiting[: spec.size]
            self._known[key] = waiting
            ready = [i.name for i in waiting if await self._warm(i)]
            self._ready[key] = [name for name in ready if name not in self._handed]
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
            if not change or time.monotonic() - self._last_take < self._refill_after_take:
                continue
            for _ in range(spec.size - len(waiting)):
                self._known[key].append(await self._fill(spec, key))
        self._status = status

    async def _list_all(self) -> None:
        """Learn the images' ids and every pool instance there is; drain the ones no pool
        wants (an old image, another size, a pool no template asks for, a stopped one)."""
        await self._learn_keys()
        wanted = {self._keys[s.template] for s in self._specs if s.template in self._keys}
        handed = set(self._handed)
        unheld = [i for i in await self._runtime.list() if is_unheld(i.owner, self._installation)]
        self._warmed &= {i.name for i in unheld}
        # What this list says is the truth now: one handed out before it and still the pool's
        # was not taken (its create failed or lost it), so it waits again.
        self._handed -= handed
        self._known = {key: [] for key in wanted}
        for instance in unheld:
            key = pool_key_of(instance.owner, self._installation)
            if key in wanted and instance.status in UP:
                self._known[key].append(instance)
            else:
                await self._drain(instance)

    async def _ask_after_known(self) -> None:
        """The known pool instances as they are now; one gone or down is forgotten (the next
        full list drains it)."""
        for key, instances in self._known.items():
            now = []
            for instance in instances:
                try:
                    state = await self._runtime.state(InstanceName(instance.name))
                except NotFoundError:
                    continue
                if state.status in UP:
                    now.append(replace(state, owner=instance.owner))
            self._known[key] = now

    async def _warm(self, instance: InstanceState) -> bool:
        """Whether ``instance`` is ready: its IDE answers, and has served its workbench page
        once (code-server's first page costs it a third of a second more than the next)."""
        if not instance.ipv4 or not await ide_healthy(self._http, instance.ipv4):
            return False
        if instance.name not in self._warmed:
            if not await ask_for_workbench(self._http, instance.ipv4):
                return False
            self._warmed.add(instance.name)
        return True

    async def _learn_keys(self) -> None:
        for spec in self._specs:
            try:
                self._keys[spec.template] = pool_key(spec, await self._runtime.image_id(spec.image))
            except NotFoundError as error:
                self._keys.pop(spec.template, None)
                log.warning("no warm pool for template %s: %s", spec.template, error)

    async def _fill(self, spec: PoolSpec, key: str) -> InstanceState:
        """Make and start one instance of pool ``key`` (it is ready at a later pass)."""
        name = instance_name_for(self._prefix, uuid.uuid4().hex)
        owner = pool_owner(self._installation, key)
        await self._runtime.create(
            InstanceSpec(
                name=name,
                image=spec.image,
                cpus=spec.cpus,
                memory_mib=spec.memory_mib,
                disk_gib=spec.disk_gib,
                owner=owner,
            )
        )
        await self._runtime.start(name)
        log.info("warm pool %s: started %s", spec.template, name)
        return InstanceState(name, InstanceStatus.STARTING, owner=owner)

    async def _drain(self, instance: InstanceState) -> None:
        """Delete an instance no one ever held: taken first for a drain mark, so that a
        create cannot take it in the same moment (and one taken already is left alone)."""
        owner = instance.owner
        if owner is None or not is_unheld(owner, self._installation) or not self._changing:
            return
        name = InstanceName(instance.name)
        if not owner.workspace_id.startswith(DRAIN_MARK):
            key = owner.workspace_id.partition(":")[2]
            if not await self._runtime.take(name, owner, drain_owner(self._installation, key)):
                return
        with contextlib.suppress(NotFoundError):
            await self._runtime.delete(name)
        log.info("warm pool: drained %s", name)
