"""This installation's id: made once, at the first start, and kept in the data directory.

Every instance Tidepool makes records it (``tidepool.domain.ownership``), so that a second
installation on the same Incus, or a ``serve`` given another data directory, can tell the
instances it made from the ones it must never touch. It lives beside the database's default
file rather than in the database: a switch to another database keeps it, and so still
recognises the instances as this installation's (and reports them, never deletes them).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tidepool.domain.ownership import new_installation_id, validate_installation_id
from tidepool.errors import InvalidInputError

FILE_NAME = "installation-id"


def installation_id(data_dir: Path) -> str:
    """The id kept in ``data_dir``, made now if there is none (two processes starting at
    once agree: the file is created exclusively, and the loser reads the winner's)."""
    path = data_dir / FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        scratch = data_dir / f".{FILE_NAME}.{os.getpid()}"
        scratch.write_text(new_installation_id() + "\n")
        try:
            os.link(scratch, path)  # atomic, and refuses to replace an existing id
        finally:
            scratch.unlink(missing_ok=True)
    try:
        return validate_installation_id(path.read_text())
    except InvalidInputError as error:
        raise InvalidInputError(
            f"{path} is damaged ({error}); restore it from a backup of the data directory "
            "(every instance records this id), or remove it to start a new installation."
        ) from None
