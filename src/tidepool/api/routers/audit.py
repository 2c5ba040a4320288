"""``/api/audit``: the audit log, for admins (an admin's token needs the ``admin`` scope)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, BeforeValidator

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared
from tidepool.domain.audit import MAX_AUDIT_LIMIT, AuditEntry, AuditQuery, Outcome


def iso_time_only(value: object) -> object:
    """Refuse a bare number: pydantic would read it as seconds since 1970, a reading the
    schema (``date-time``) does not promise and a typo should not get."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("must be an ISO 8601 time, such as 2026-11-30T12:00:00Z")
    return value


IsoTime = Annotated[dt.datetime, BeforeValidator(iso_time_only)]

router = APIRouter(prefix="/audit", tags=["audit"], responses=declared(401, 403, 404, 422))


class AuditEntryPublic(BaseModel):
    at: dt.datetime
    action: str
    actor: str
    token: str
    address: str
    target: str
    outcome: Outcome
    detail: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryPublic:
        return cls(
            at=entry.at,
            action=entry.action,
            actor=entry.actor,
            token=entry.token,
            address=entry.address,
            target=entry.target,
            outcome=entry.outcome,
            detail=entry.detail,
        )


class AuditPublic(BaseModel):
    #: Oldest first: the newest ``limit`` entries that match.
    items: list[AuditEntryPublic]
    #: True when older matching entries were left out (ask again with a later ``since``).
    truncated: bool


@router.get("", response_model=AuditPublic)
async def read_audit(
    plane: Plane,
    me: Me,
    since: Annotated[IsoTime | None, Query()] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 100,
) -> AuditPublic:
    """Entries at or after ``since`` (a naive time is UTC), by ``actor``, of ``action`` (one
    action such as ``workspace.stop``, or a family such as ``workspace``)."""
    if plane.audit is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This installation keeps no audit log.")
    if not me.admin:
        await plane.record(AuditEntry.by(me, "audit.read", "", Outcome.DENIED, "not an admin"))
    me.check_admin("read the audit log")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    entries, truncated = await plane.audit.read(
        AuditQuery(since=since, actor=actor, action=action, limit=limit)
    )
    return AuditPublic(items=[AuditEntryPublic.of(e) for e in entries], truncated=truncated)
