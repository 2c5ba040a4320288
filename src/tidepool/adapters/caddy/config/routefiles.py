"""Where Caddy finds a workspace's route: one empty file per workspace in the routes directory.

Routes are files, not config, so that adding or removing a workspace never reloads Caddy
(docs/benchmarks.md). ``CaddyRouteTable`` writes a file named ``{address}@{owner}`` in a
directory named after the workspace; Caddy's ``file`` matcher finds it per request and
``ROUTE_FILE_PATTERN`` takes the address and owner back out of its path. The writer and the
reader share the names defined here, so they cannot drift apart.

Configs up to version 4 kept the routes in a ``map`` handler instead; the functions at the end
read such a map back once, so an upgrade carries its workspaces over.
"""

from __future__ import annotations

from tidepool.adapters.caddy.config.variables import JSON
from tidepool.domain.names import NAME_PATTERN
from tidepool.domain.users import USER_NAME
from tidepool.edge import GRANT_ROUTE_LINK

#: A route file's path under the routes directory: ``/{name}/{address}@{owner}``.
ROUTE_FILE_PATTERN = f"^/{NAME_PATTERN}/([0-9.]+)@((?:{USER_NAME.pattern})?)$"
#: The same route found through a grant's link (``tidepool.auth.grants``), relative to the
#: directory that holds both the grants and the routes: ``/grants/LABEL/TOKEN/route/...``.
GRANT_ROUTE_FILE_PATTERN = (
    f"^/[^/]+/[^/]+/[^/]+/{GRANT_ROUTE_LINK}/([0-9.]+)@((?:{USER_NAME.pattern})?)$"
)
#: Configs up to version 4 routed through a ``map`` handler with this id (carried over once).
LEGACY_MAP_ID = "tidepool-workspaces"


def route_file_name(address: str, owner: str = "") -> str:
    """The name of the one file in a workspace's routes directory (both already validated)."""
    return f"{address}@{owner}"


def parse_route_file_name(file_name: str) -> tuple[str, str]:
    """``(address, owner)`` from a route file's name."""
    address, _, owner = file_name.partition("@")
    return address, owner


def routes_from_mappings(mappings: list[JSON]) -> dict[str, str]:
    """Read ``{name: address}`` back from an older config's map handler's mappings."""
    return {m["input"]: m["outputs"][0] for m in mappings if m.get("outputs")}


def owners_from_mappings(mappings: list[JSON]) -> dict[str, str]:
    """Read ``{name: owner}`` back (older configs had no owner: empty)."""
    return {
        m["input"]: (m["outputs"][1] if len(m["outputs"]) > 1 else "")
        for m in mappings
        if m.get("outputs")
    }
