"""Whose an instance is, and whether Tidepool may delete it.

An instance holds a user's files. A database that does not know it (a switch to another
database, a restored backup, a second installation on the same Incus, a ``serve`` started
with another data directory) is no proof that nobody wants it. So every instance carries, in
the runtime's own metadata, the installation that made it and the workspace it was made for
(``InstanceOwner``), and ``judge`` deletes only what is provably this installation's and
provably unwanted: its workspace's row is in this database and says ``deleted``. Everything
else it finds is left as it is and reported (``Verdict.UNKNOWN``, ``Verdict.FOREIGN``), to be
adopted (``tidepool workspace adopt``) or removed by a person.

An instance made before owners were recorded carries none: the one proof left is a live row
that names it (and then it is stamped), so it is never deleted by a resync either.
"""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass

from tidepool.domain.workspace import Status, Workspace
from tidepool.errors import InvalidInputError

#: An installation id: 32 lowercase hex digits, made once per installation.
_INSTALLATION_ID = re.compile(r"[0-9a-f]{32}")


def new_installation_id() -> str:
    """A fresh installation id (128 random bits): two installations never share one."""
    return secrets.token_hex(16)


def validate_installation_id(value: str) -> str:
    """``value`` if it is an installation id, else ``InvalidInputError``."""
    value = value.strip()
    if not _INSTALLATION_ID.fullmatch(value):
        raise InvalidInputError(f"{value!r} is not an installation id (32 lowercase hex digits).")
    return value


@dataclass(frozen=True, slots=True)
class InstanceOwner:
    """What an instance says about who made it: kept in the runtime with the instance."""

    installation: str
    workspace_id: str


class Verdict(enum.StrEnum):
    """What a resync does with an instance it finds."""

    #: A live workspace of this database runs on it: keep.
    WANTED = "wanted"
    #: This installation's, made for a workspace this database says is deleted: delete.
    UNWANTED = "unwanted"
    #: This database has no live workspace for it: keep, and report.
    UNKNOWN = "unknown"
    #: Another installation made it: keep, never touch, and report.
    FOREIGN = "foreign"


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    #: Why, in words an operator can act on (empty for ``WANTED``).
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unclaimed:
    """An instance a resync left as it is: no live workspace of this database runs on it."""

    instance: str
    verdict: Verdict
    reason: str
    owner: InstanceOwner | None = None


def judge(owner: InstanceOwner | None, workspace: Workspace | None, installation: str) -> Judgement:
    """What to do with an instance whose recorded owner is ``owner`` and whose workspace, as
    this database knows it, is ``workspace`` (None: no row names it).

    Only ``UNWANTED`` allows a delete, and only with both proofs: the instance says it is
    this installation's and made for exactly this row, and the row says ``deleted``.
    """
    if owner is not None and owner.installation != installation:
        return Judgement(
            Verdict.FOREIGN, f"made by another Tidepool installation ({owner.installation})"
        )
    if workspace is None:
        if owner is None:
            reason = "no workspace of this database names it, and it records no owner"
        else:
            reason = (
                f"made by this installation for workspace id {owner.workspace_id}, "
                "which this database does not know (another or a restored database?)"
            )
        return Judgement(Verdict.UNKNOWN, reason)
    if owner is not None and owner.workspace_id != workspace.id:
        return Judgement(
            Verdict.UNKNOWN,
            f"made for workspace id {owner.workspace_id}, not for {workspace.name!r} "
            f"({workspace.id})",
        )
    if workspace.status is not Status.DELETED:
        return Judgement(Verdict.WANTED)
    if owner is None:
        return Judgement(
            Verdict.UNKNOWN,
            f"its workspace {workspace.name!r} is deleted, but it records no owner to prove "
            "it is this installation's",
        )
    return Judgement(Verdict.UNWANTED, f"its workspace {workspace.name!r} is deleted")


def may_delete(owner: InstanceOwner | None, workspace: Workspace, installation: str) -> bool:
    """Whether the reconciler may delete ``workspace``'s instance, whose recorded owner is
    ``owner``, for a delete the user asked for or a create that never finished.

    The row itself asks for it, so an instance that records no owner (made before owners
    were) may go: its name comes from this row's id. One that records another installation
    or another workspace is never this row's to delete.
    """
    if owner is None:
        return True
    return owner.installation == installation and owner.workspace_id == workspace.id
