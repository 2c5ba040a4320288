"""``CaddyRouteTable``: the ``RouteTable`` port on the routes directory Caddy reads per request.

Each routed workspace is a directory named after it holding one empty file named
``{address}@{owner}`` (see ``config.lookup_routes``). Caddy finds it at request time, so a
change is a few file operations and never a config reload: requests in flight are not
dropped, and the cost does not grow with the number of workspaces.

A change writes the new file before it removes the old one, so a request at that instant
finds one or the other, never neither. Every name, address and owner is validated before
it becomes a path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from tidepool.adapters.caddy import config
from tidepool.domain.names import WorkspaceName, validate_ipv4, validate_workspace_name
from tidepool.domain.routing import Route
from tidepool.domain.users import validate_user_name
from tidepool.errors import InvalidInputError, NotFoundError


class CaddyRouteTable:
    """Routes ``/workspace/{name}/`` to ``{address}:8080`` through ``routes_dir``."""

    def __init__(self, routes_dir: Path) -> None:
        self._dir = routes_dir

    async def aclose(self) -> None:
        """Nothing to release: the table is files."""

    async def add(self, name: str, address: str, owner: str = "") -> bool:
        name = validate_workspace_name(name)
        address = validate_ipv4(address)
        if owner:
            validate_user_name(owner)
        entry = config.route_file_name(address, owner)
        directory = self._dir / name
        current = _entries(directory)
        if current == [entry]:
            return False
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (directory / entry).touch()
        for old in current:
            if old != entry:
                (directory / old).unlink(missing_ok=True)
        return True

    async def remove(self, name: str) -> None:
        name = validate_workspace_name(name)
        directory = self._dir / name
        if not directory.is_dir():
            raise NotFoundError(f"There is no route for workspace {name!r}.")
        for entry in _entries(directory):
            (directory / entry).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            directory.rmdir()

    async def list(self) -> Mapping[WorkspaceName, str]:
        return {name: route.address for name, route in self.read().items()}

    async def entries(self) -> Mapping[WorkspaceName, Route]:
        return self.read()

    def read(self) -> dict[WorkspaceName, Route]:
        """``{name: Route}`` of every route; anything else in the directory is ignored (Caddy
        would not route it either)."""
        found: dict[WorkspaceName, Route] = {}
        if not self._dir.is_dir():
            return found
        for directory in sorted(self._dir.iterdir()):
            current = _entries(directory)
            if not current:
                continue
            address, owner = config.parse_route_file_name(current[0])
            try:  # parsed at the edge: a file name becomes a WorkspaceName here
                name = validate_workspace_name(directory.name)
                validate_ipv4(address)
            except InvalidInputError:
                continue
            found[name] = Route(address, owner)
        return found


def _entries(directory: Path) -> list[str]:
    """The file names in a workspace's directory (none if it is missing)."""
    try:
        return sorted(entry.name for entry in directory.iterdir() if entry.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []
