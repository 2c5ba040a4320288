"""``/api/me/dotfiles`` and ``/api/me/git-credentials``: what a user sets once for all their
workspaces.

A change takes what adding an SSH key takes (a person, or a token for all the user's
workspaces: dotfiles run, and credentials are handed over, in every one of them), and is
audited. A credential's secret goes in and never comes out: answers, audit entries and logs
name the host and the user name only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from tidepool.api.deps import ControlPlane, Me, Plane
from tidepool.api.problems import declared
from tidepool.auth.personal import PersonalFiles
from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.domain.identity import Identity
from tidepool.domain.personal import MAX_SECRET, USERNAME_RULE, git_credential, validate_host
from tidepool.domain.repositories import (
    BRANCH_RULE,
    MAX_URL_LENGTH,
    REPOSITORY_URL_RULE,
    repository,
)
from tidepool.errors import TidepoolError

router = APIRouter(prefix="/me", tags=["me"], responses=declared(401, 404, 422))


async def personal_files(plane: Plane) -> PersonalFiles:
    if plane.personal is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "This control plane keeps no dotfiles or git credentials."
        )
    return plane.personal


Files = Annotated[PersonalFiles, Depends(personal_files)]
#: Checked in the handler (``validate_host``), for a message a person reads, not a pattern.
HostPath = Annotated[str, Path(max_length=260)]


class Dotfiles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The dotfiles repository (``https://``); null: none.
    url: str | None = Field(
        default=None, max_length=MAX_URL_LENGTH, json_schema_extra={"pattern": REPOSITORY_URL_RULE}
    )
    branch: str = Field(default="", max_length=200, json_schema_extra={"pattern": BRANCH_RULE})


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=100, json_schema_extra={"pattern": USERNAME_RULE})
    #: A password or access token; kept, handed to git, never answered back.
    secret: str = Field(min_length=1, max_length=MAX_SECRET, json_schema_extra={"writeOnly": True})


class CredentialPublic(BaseModel):
    host: str
    username: str


class CredentialsPublic(BaseModel):
    items: list[CredentialPublic]


async def audited(
    plane: ControlPlane, me: Identity, action: str, target: str, change: Callable[[], object]
) -> None:
    """``change`` if ``me`` may change settings that reach all their workspaces; recorded
    either way (``detail`` never holds a secret)."""
    try:
        me.check_acts_for_every_workspace(f"change {action.split('.')[0].replace('_', ' ')}")
        change()
    except TidepoolError as error:
        await plane.record(AuditEntry.by(me, action, target, Outcome.DENIED, str(error)))
        raise
    await plane.record(AuditEntry.by(me, action, target, Outcome.OK, ""))


@router.get("/dotfiles", response_model=Dotfiles)
async def get_dotfiles(me: Me, files: Files) -> Dotfiles:
    dotfiles = files.personal(me.name).dotfiles
    return Dotfiles(url=dotfiles.url, branch=dotfiles.branch) if dotfiles else Dotfiles()


@router.put("/dotfiles", response_model=Dotfiles, responses=declared(400, 403))
async def put_dotfiles(body: Dotfiles, me: Me, files: Files, plane: Plane) -> Dotfiles:
    """Every workspace made or started from now on installs these dotfiles (once each)."""
    checked = repository(body.url, body.branch) if body.url else None
    target = checked.url if checked else ""
    await audited(plane, me, "dotfiles.set", target, lambda: files.set_dotfiles(me.name, checked))
    return body if checked else Dotfiles()


@router.delete("/dotfiles", status_code=status.HTTP_204_NO_CONTENT, responses=declared(403))
async def delete_dotfiles(me: Me, files: Files, plane: Plane) -> Response:
    await audited(plane, me, "dotfiles.clear", "", lambda: files.set_dotfiles(me.name, None))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/git-credentials", response_model=CredentialsPublic)
async def list_credentials(me: Me, files: Files) -> CredentialsPublic:
    return CredentialsPublic(
        items=[
            CredentialPublic(host=c.host, username=c.username)
            for c in files.personal(me.name).credentials
        ]
    )


@router.put(
    "/git-credentials/{host}", response_model=CredentialPublic, responses=declared(400, 403, 409)
)
async def put_credential(
    host: HostPath, body: CredentialIn, me: Me, files: Files, plane: Plane
) -> CredentialPublic:
    """Git uses it for every repository on ``host``: a workspace's clone, the dotfiles and
    the user's own pulls and pushes in its terminal (from each workspace's next start)."""
    credential = git_credential(host, body.username, body.secret)
    await audited(
        plane,
        me,
        "git_credential.set",
        credential.host,
        lambda: files.set_credential(me.name, credential),
    )
    return CredentialPublic(host=credential.host, username=credential.username)


@router.delete(
    "/git-credentials/{host}", status_code=status.HTTP_204_NO_CONTENT, responses=declared(400, 403)
)
async def delete_credential(host: HostPath, me: Me, files: Files, plane: Plane) -> Response:
    host = validate_host(host)
    removed: list[bool] = []
    await audited(
        plane,
        me,
        "git_credential.remove",
        host.lower(),
        lambda: removed.append(files.remove_credential(me.name, host)),
    )
    if not removed[0]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"You have no git credential for {host}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
