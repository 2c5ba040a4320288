"""``/api/me/idle-timeout``: the idle timeout a user chooses for all their workspaces.

A user whose work pauses for long meetings chooses a longer one; one who wants the host's
memory back sooner, a shorter one. The admin's bounds (``idle_timeout_user_min_minutes`` and
``_max_minutes``) hold: a choice outside them is a 409 that names them. The choice applies to
running workspaces at the activity watch's next look. Changing it takes what adding an SSH key
takes (a person, or a token for all the user's workspaces), and is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared
from tidepool.auth.idle_choices import IdleChoices
from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.errors import TidepoolError

router = APIRouter(prefix="/me", tags=["me"], responses=declared(401, 404, 422))
#: Longer than any bound an admin would set (a year); the bounds themselves are a 409.
MAX_MINUTES = 525_600


async def choices_of(plane: Plane) -> IdleChoices:
    if plane.idle_choices is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "This control plane keeps no idle timeouts of users."
        )
    return plane.idle_choices


Choices = Annotated[IdleChoices, Depends(choices_of)]


class IdleTimeoutPublic(BaseModel):
    #: What the user chose, in minutes (null: their workspaces take the default).
    minutes: float | None
    #: The platform's timeout, which templates may change, and the user's choice overrides.
    default_minutes: float
    #: Whether users may choose here, and between what.
    may_choose: bool
    min_minutes: float
    max_minutes: float


class IdleTimeoutChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Minutes without activity before an idle stop of each of the user's workspaces.
    minutes: float = Field(gt=0, le=MAX_MINUTES)


def public(choices: IdleChoices, user: str) -> IdleTimeoutPublic:
    return IdleTimeoutPublic(
        minutes=choices.chosen(user),
        default_minutes=choices.default,
        may_choose=choices.bounds.open,
        min_minutes=choices.bounds.low,
        max_minutes=choices.bounds.high,
    )


@router.get("/idle-timeout", response_model=IdleTimeoutPublic)
async def get_idle_timeout(me: Me, choices: Choices) -> IdleTimeoutPublic:
    return public(choices, me.name)


@router.put("/idle-timeout", response_model=IdleTimeoutPublic, responses=declared(400, 403, 409))
async def choose_idle_timeout(
    body: IdleTimeoutChoice, me: Me, choices: Choices, plane: Plane
) -> IdleTimeoutPublic:
    """Stop each of the caller's workspaces after ``minutes`` without activity."""
    await change(me, choices, plane, body.minutes)
    return public(choices, me.name)


@router.delete("/idle-timeout", response_model=IdleTimeoutPublic, responses=declared(403))
async def forget_idle_timeout(me: Me, choices: Choices, plane: Plane) -> IdleTimeoutPublic:
    """The default timeout again for the caller's workspaces."""
    await change(me, choices, plane, None)
    return public(choices, me.name)


async def change(me: Me, choices: IdleChoices, plane: Plane, minutes: float | None) -> None:
    action = "idle_timeout.reset" if minutes is None else "idle_timeout.set"
    detail = "" if minutes is None else f"{minutes:g} minutes"
    try:
        me.check_acts_for_every_workspace("change the idle timeout")
        choices.choose(me.name, minutes)
    except TidepoolError as error:
        await plane.record(AuditEntry.by(me, action, "", Outcome.DENIED, str(error)))
        raise
    await plane.record(AuditEntry.by(me, action, "", Outcome.OK, detail))
