"""Workspace grants: the credential a browser holds for one workspace origin, and nothing else.

A grant is a host-only cookie for ``LABEL.WORKSPACE_DOMAIN`` (``alice``, ``8081--alice``),
issued by the control plane in exchange for a one-time code (``handshake``) once it checked
that the user may open the workspace. Caddy checks it on every request to that origin without
asking the control plane: each grant is a directory ``GRANTS_DIR/LABEL/TOKEN/`` and Caddy's
``file`` matcher looks for ``LABEL/COOKIE/`` (one ``stat``: no listing, however many grants
there are). So a grant is valid for its own origin alone (the label is the parent), revoking
one is deleting it (effective on the next request, no config reload), and the one empty file
inside, ``USER.SOURCE``, tells the control plane whose it is and which sign-in it came from,
so that sweeps revoke what lost its reason (``revocation``).

Beside that file, ``route`` is a symbolic link to the workspace's directory of routes
(``ROUTES_DIR/NAME``): Caddy's one lookup of ``LABEL/COOKIE/route/*`` then finds the grant and
the workspace's address together, where a ``stat`` of the grant and a listing of the route
cost two (``bench/proxy.py``). The link names the workspace of the grant's own origin, fixed
when the grant is issued, so it leads nowhere else. Grants from before the link (and any
grant whose workspace has no route) are still grants: Caddy checks them with the ``stat``.

The token is 32 random bytes (43 URL-safe characters). Caddy cannot hash, so the file name
holds the token itself: the directory is root's alone (0700), like Caddy's own memory.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tidepool.domain.names import NAME_PATTERN
from tidepool.domain.origins import WorkspaceHost
from tidepool.domain.users import USER_NAME
from tidepool.edge import GRANT_ROUTE_LINK, GRANT_SOURCE_PATTERN, GRANT_TOKEN_PATTERN

_LABEL = re.compile(f"(?:([0-9]{{1,5}})--)?({NAME_PATTERN})")
_TOKEN = re.compile(GRANT_TOKEN_PATTERN)
_OWNER_FILE = re.compile(f"({USER_NAME.pattern})\\.({GRANT_SOURCE_PATTERN})")
#: A grant no sweep removed lives this long at most (a sign-in's longest life).
DEFAULT_MAX_AGE_SECONDS = 90 * 24 * 3600.0
SOURCE_LENGTH = 16


@dataclass(frozen=True, slots=True)
class Grant:
    host: WorkspaceHost
    user: str
    #: The first 16 hex digits of the session key it came from, or ``basic``.
    source: str
    path: Path
    #: When it was issued (seconds since the epoch).
    issued: float = 0.0


def grant_source(session_key: str | None) -> str:
    """What a grant records about the sign-in behind it: the session, or basic auth."""
    return session_key[:SOURCE_LENGTH] if session_key else "basic"


class GrantStore:
    def __init__(
        self,
        directory: Path,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
        routes_dir: Path | None = None,
    ) -> None:
        """``routes_dir`` is where Caddy's routes are (each grant links its workspace's);
        without it grants carry no link and Caddy looks the route up on its own."""
        self.directory = directory
        self._routes_dir = routes_dir
        self._max_age = max_age_seconds
        self._clock = clock

    def issue(self, host: WorkspaceHost, user: str, source: str) -> str:
        """A new grant for ``user`` on ``host``'s origin: the token for the cookie."""
        if not USER_NAME.fullmatch(user) or not re.fullmatch(GRANT_SOURCE_PATTERN, source):
            raise ValueError(f"not a grant's user or source: {user!r}, {source!r}")
        token = secrets.token_urlsafe(32)
        folder = self.directory / host.label
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        # Who it is for first, then the directory Caddy looks for appears whole (a rename).
        partial = folder / f".{token}"
        partial.mkdir(mode=0o700)
        os.close(os.open(partial / f"{user}.{source}", os.O_CREAT | os.O_WRONLY, 0o600))
        if self._routes_dir is not None:
            target = os.path.relpath(self._routes_dir / host.name, folder / token)
            (partial / GRANT_ROUTE_LINK).symlink_to(target, target_is_directory=True)
        partial.rename(folder / token)
        return token

    def all(self) -> Iterator[Grant]:
        """Every grant on disk, whatever its state (files that are not grants are skipped)."""
        if not self.directory.is_dir():
            return
        for folder in self.directory.iterdir():
            label = _LABEL.fullmatch(folder.name)
            if label is None or not folder.is_dir():
                continue
            port = int(label.group(1)) if label.group(1) else None
            host = WorkspaceHost(label.group(2), port)
            for path in folder.iterdir():
                grant = _read(host, path) if _TOKEN.fullmatch(path.name) else None
                if grant is not None:
                    yield grant

    def find(self, host: WorkspaceHost, token: str) -> Grant | None:
        if not _TOKEN.fullmatch(token):
            return None
        return _read(host, self.directory / host.label / token)

    def revoke(self, keep: Callable[[Grant], bool]) -> list[Grant]:
        """Delete every grant ``keep`` refuses, and those older than the longest sign-in;
        returns what was deleted (so open connections on those origins can be cut)."""
        oldest = self._clock() - self._max_age
        gone = []
        for grant in list(self.all()):
            with contextlib.suppress(FileNotFoundError):
                if keep(grant) and grant.path.stat().st_mtime > oldest:
                    continue
                shutil.rmtree(grant.path)
                gone.append(grant)
        return gone


def _read(host: WorkspaceHost, path: Path) -> Grant | None:
    """The grant in directory ``path`` (None if it is not one)."""
    try:
        names = [entry.name for entry in path.iterdir()]
    except OSError:
        return None
    found = next((m for m in map(_OWNER_FILE.fullmatch, names) if m is not None), None)
    if found is None:
        return None
    try:
        issued = (path / found.group()).stat().st_mtime
    except OSError:
        return None
    return Grant(host, found.group(1), found.group(2), path, issued)
