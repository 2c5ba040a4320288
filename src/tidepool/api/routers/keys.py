"""``/api/keys``: the caller's SSH public keys, which open their workspaces over SSH.

Everyone has their own keys, whatever the sign-in (root on the host as the local owner).
Listing takes any credential of the user; adding and removing take a person or a token that
may change all of the user's workspaces (``Identity.check_may_manage_keys``), and both are
recorded in the audit log. Someone else's key answers like a missing one.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared
from tidepool.auth.ssh_keys import MAX_KEYS_PER_USER, SshKey, SshKeyStore
from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.domain.ssh_keys import MAX_LINE
from tidepool.errors import TidepoolError

router = APIRouter(prefix="/keys", tags=["keys"], responses=declared(401, 404, 422))


async def key_store(plane: Plane) -> SshKeyStore:
    if plane.ssh_keys is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This control plane keeps no SSH keys.")
    return plane.ssh_keys


Keys = Annotated[SshKeyStore, Depends(key_store)]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: One line of a ``.pub`` file: ``ssh-ed25519 AAAA... comment``.
    public_key: str = Field(min_length=1, max_length=MAX_LINE)
    #: What to call it; left out: the key's comment.
    name: str = Field(default="", max_length=64)


class KeyPublic(BaseModel):
    id: str
    name: str
    type: str
    #: As ``ssh-keygen -l`` prints it.
    fingerprint: str
    #: The ``authorized_keys`` line.
    public_key: str
    created: dt.datetime

    @classmethod
    def of(cls, key: SshKey) -> KeyPublic:
        return cls(
            id=key.id,
            name=key.name,
            type=key.key.type,
            fingerprint=key.fingerprint,
            public_key=key.key.line(),
            created=dt.datetime.fromtimestamp(key.created, dt.UTC),
        )


class KeysPublic(BaseModel):
    items: list[KeyPublic]
    #: How many keys one user may have.
    limit: int = MAX_KEYS_PER_USER


@router.get("", response_model=KeysPublic)
async def list_keys(me: Me, keys: Keys) -> KeysPublic:
    return KeysPublic(items=[KeyPublic.of(key) for key in keys.list(me.name)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyPublic,
    responses=declared(400, 403, 409),
)
async def add_key(body: KeyCreate, me: Me, keys: Keys, plane: Plane) -> KeyPublic:
    """Add a public key; the user's workspaces take it within seconds."""
    try:
        me.check_may_manage_keys()
        key = keys.add(me.name, body.public_key, body.name)
    except TidepoolError as error:
        await plane.record(AuditEntry.by(me, "key.add", "", Outcome.DENIED, str(error)))
        raise
    await plane.record(AuditEntry.by(me, "key.add", key.id, Outcome.OK, key.fingerprint))
    return KeyPublic.of(key)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=declared(403))
async def remove_key(key_id: str, me: Me, keys: Keys, plane: Plane) -> None:
    """Remove a key; the user's running workspaces stop accepting it within seconds."""
    try:
        me.check_may_manage_keys()
        key = keys.remove(me.name, key_id)
    except TidepoolError as error:
        await plane.record(AuditEntry.by(me, "key.remove", key_id, Outcome.DENIED, str(error)))
        raise
    await plane.record(AuditEntry.by(me, "key.remove", key.id, Outcome.OK, key.fingerprint))
