"""Users' own settings (dotfiles, git credentials), kept in one private file of the data
directory and changed under its lock, so ``serve`` and the CLI never lose each other's writes.

The file is 0600 in the private data directory: it holds the secrets of git credentials, which
no API answer, log line or event ever carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tidepool.auth.records import RecordSet, opened
from tidepool.domain.personal import MAX_CREDENTIALS, GitCredential, Personal
from tidepool.domain.repositories import Repository, repository
from tidepool.errors import ConflictError


class PersonalFiles:
    """Each user's ``Personal`` on a ``RecordSet`` (the file; on PostgreSQL, a row): one
    record per user who set something.

    ``personal(user)`` is what a workspace's setup reads (at each start, so a change reaches
    the next workspace made or started); the ``set_`` and ``remove_`` methods are for the
    API."""

    #: The file's name in the data directory.
    FILE = "personal.json"

    def __init__(self, path: Path | RecordSet) -> None:
        self._file = opened(path)

    @classmethod
    def in_directory(cls, data_dir: Path) -> PersonalFiles:
        return cls(data_dir / cls.FILE)

    def personal(self, user: str) -> Personal:
        record = self._file.read().get(user, {})
        dotfiles = record.get("dotfiles")
        return Personal(
            dotfiles=repository(dotfiles["url"], dotfiles.get("branch", "")) if dotfiles else None,
            credentials=tuple(
                GitCredential(host, entry["username"], entry["secret"])
                for host, entry in sorted(record.get("git_credentials", {}).items())
            ),
        )

    def set_dotfiles(self, user: str, dotfiles: Repository | None) -> None:
        with self._file.change() as records:
            record: dict[str, Any] = records.setdefault(user, {})
            if dotfiles is None:
                record.pop("dotfiles", None)
            else:
                record["dotfiles"] = {"url": dotfiles.url, "branch": dotfiles.branch}

    def set_credential(self, user: str, credential: GitCredential) -> None:
        with self._file.change() as records:
            saved: dict[str, Any] = records.setdefault(user, {}).setdefault("git_credentials", {})
            if credential.host not in saved and len(saved) >= MAX_CREDENTIALS:
                raise ConflictError(
                    f"You have {MAX_CREDENTIALS} git credentials, the most there may be; "
                    "remove one first."
                )
            saved[credential.host] = {
                "username": credential.username,
                "secret": credential.secret,
            }

    def remove_credential(self, user: str, host: str) -> bool:
        """False when there was none for that host."""
        with self._file.change() as records:
            saved = records.get(user, {}).get("git_credentials", {})
            return saved.pop(host.lower(), None) is not None
