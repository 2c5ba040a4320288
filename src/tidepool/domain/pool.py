"""The warm pool: instances made and started ahead of time, one of which a create takes.

A pool instance belongs to no one. It records, as its owner, this installation and a pool
mark instead of a workspace id (``pool_owner``): the mark names the pool it fills (``key``),
which is what its template's image and size were when it was made. A create takes one by
replacing that owner with its workspace's, as one compare-and-swap in the runtime
(``Runtime.take``): two creates, or a create and the keeper draining the pool, can never both
have it. Once taken, an instance is its workspace's for good; it is never given back, so no
holder ever leaves anything behind for the next.

A pool instance is provably this installation's and provably unwanted by any user (nobody
ever held it), so the keeper may delete it when its pool is drained; it takes it first,
for a drain mark, so that a create cannot take it in the same moment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tidepool.domain.ownership import InstanceOwner
from tidepool.domain.templates import Catalog, Size

#: What a pool instance records instead of a workspace id: ``pool:KEY``.
POOL_MARK = "pool:"
#: What one being drained records, between its take by the keeper and its delete.
DRAIN_MARK = "drain:"
#: The most instances one template may keep warm (each holds its memory while it waits).
MAX_POOL_SIZE = 20


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """One pool as the settings ask for it: a template's image and size, kept ``size`` warm."""

    template: str
    image: str
    cpus: int
    memory_mib: int
    disk_gib: int | None
    size: int

    def fits(self, image: str, size: Size) -> bool:
        """Whether a workspace of ``image`` and ``size`` may take from this pool: exactly
        what its instances were made with (a workspace asked bigger is made cold)."""
        return (image, size.cpus, size.memory_mib, size.disk_gib) == (
            self.image,
            self.cpus,
            self.memory_mib,
            self.disk_gib,
        )


def pool_specs(catalog: Catalog) -> list[PoolSpec]:
    """The pools ``catalog``'s templates ask for (those with a ``pool_size``)."""
    return [
        PoolSpec(
            template.name,
            template.image,
            template.size.cpus or 0,
            template.size.memory_mib or 0,
            template.size.disk_gib,
            template.pool_size,
        )
        for template in catalog.templates
        if template.pool_size > 0
    ]


def pool_key(spec: PoolSpec, image_id: str) -> str:
    """The key of ``spec``'s pool while its image is ``image_id`` (``Runtime.image_id``): a
    new image behind the same name, or another size, is another pool, and the old drains."""
    material = "\n".join(
        (spec.image, image_id, str(spec.cpus), str(spec.memory_mib), str(spec.disk_gib))
    )
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def pool_owner(installation: str, key: str) -> InstanceOwner:
    """What an instance of pool ``key`` records as its owner."""
    return InstanceOwner(installation, POOL_MARK + key)


def drain_owner(installation: str, key: str) -> InstanceOwner:
    """What the keeper records on a pool instance it is about to delete."""
    return InstanceOwner(installation, DRAIN_MARK + key)


def pool_key_of(owner: InstanceOwner | None, installation: str) -> str | None:
    """The pool an instance waits in (it records ``installation``'s pool mark), else None."""
    if owner is None or owner.installation != installation:
        return None
    if not owner.workspace_id.startswith(POOL_MARK):
        return None
    return owner.workspace_id[len(POOL_MARK) :]


def is_unheld(owner: InstanceOwner | None, installation: str) -> bool:
    """Whether no user ever held the instance: it is ``installation``'s and waits in a pool
    or is being drained from one. Only such an instance may the keeper delete."""
    if owner is None or owner.installation != installation:
        return False
    return owner.workspace_id.startswith((POOL_MARK, DRAIN_MARK))
