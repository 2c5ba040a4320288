"""``tidepool snapshot ...`` and ``tidepool workspace rebuild|fork|undelete``: what users do
with a workspace's home, through the control plane's API.

Names are checked here first, so a typo is answered before any request; everything else
(who may, whether the home is on a volume, whether the snapshot exists) is the API's to say.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from tidepool.cli.output import console, friendly_errors
from tidepool.cli.workspace import (
    JsonOption,
    UrlOption,
    WaitOption,
    call_api,
    follow,
    print_workspace,
)
from tidepool.client import JSON, ApiClient
from tidepool.domain.names import validate_workspace_name
from tidepool.domain.snapshots import validate_snapshot_name

snapshot_app = typer.Typer(
    help="Snapshots of a workspace's home: take, list, restore, delete. Automatic ones "
    "(auto-...) are taken before a delete and a restore, and pruned by retention."
)
AT_REST = {"running", "stopped", "failed"}


def _then_follow(
    url: str, name: str, wait: bool, as_json: bool, request: str, *args: str | None
) -> None:
    """Send ``request`` and, unless told not to, follow the workspace until it settles."""

    async def go(client: ApiClient) -> JSON:
        workspace: JSON = await getattr(client, request)(*args)
        if wait and not as_json:
            # A restore or a rebuild leaves the status as it was (``running``): that is not
            # its answer, a status written after the request is.
            asked = {**workspace, "status": "requested"}
            workspace = await follow(client, workspace["name"], AT_REST, asked)
        return workspace

    print_workspace(call_api(url, go), as_json)


@snapshot_app.command("create")
@friendly_errors
def create(name: str, snapshot: str, url: str = UrlOption) -> None:
    """Snapshot NAME's home now, running or not, as SNAPSHOT."""
    validate_workspace_name(name)
    validate_snapshot_name(snapshot)
    taken = call_api(url, lambda client: client.take_snapshot(name, snapshot))
    console.print(f"Snapshot {taken['name']} of {name} taken at {taken['taken_at']}.")


@snapshot_app.command("list")
@friendly_errors
def list_snapshots(name: str, as_json: bool = JsonOption, url: str = UrlOption) -> None:
    """NAME's home snapshots, oldest first."""
    validate_workspace_name(name)
    found = call_api(url, lambda client: client.snapshots(name))["data"]
    if as_json:
        print(json.dumps(found, indent=2))
        return
    table = Table("snapshot", "taken at", "kind")
    for snapshot in found:
        kind = "yours"
        if snapshot["automatic"]:
            until = snapshot.get("kept_until")
            kind = f"automatic, kept until {until}" if until else "automatic"
        table.add_row(snapshot["name"], snapshot["taken_at"], kind)
    console.print(table)


@snapshot_app.command("restore")
@friendly_errors
def restore(
    name: str,
    snapshot: str,
    wait: bool = WaitOption,
    as_json: bool = JsonOption,
    url: str = UrlOption,
) -> None:
    """Put NAME's home back as it was in SNAPSHOT. The workspace stops, its home is
    snapshotted first (auto-restore-..., to undo this), and it runs again if it ran."""
    validate_workspace_name(name)
    _then_follow(url, name, wait, as_json, "restore", name, snapshot)


@snapshot_app.command("delete")
@friendly_errors
def delete(name: str, snapshot: str, url: str = UrlOption) -> None:
    """Delete NAME's snapshot SNAPSHOT."""
    validate_workspace_name(name)
    call_api(url, lambda client: client.delete_snapshot(name, snapshot))
    console.print(f"Snapshot {snapshot} of {name} deleted.")


@friendly_errors
def rebuild_command(
    name: str,
    template: str = typer.Option(
        None, "--template", help="Move to this template (default: its own)."
    ),
    wait: bool = WaitOption,
    as_json: bool = JsonOption,
    url: str = UrlOption,
) -> None:
    """A new root filesystem from the template's current image; home is kept."""
    validate_workspace_name(name)
    _then_follow(url, name, wait, as_json, "rebuild", name, template)


@friendly_errors
def fork_command(
    source: str,
    new: str,
    wait: bool = WaitOption,
    as_json: bool = JsonOption,
    url: str = UrlOption,
) -> None:
    """NEW: a workspace of yours with a copy of SOURCE's home as it is now, running or not."""
    validate_workspace_name(source)
    validate_workspace_name(new)
    _then_follow(url, new, wait, as_json, "fork", source, new)


@friendly_errors
def undelete_command(
    name: str, wait: bool = WaitOption, as_json: bool = JsonOption, url: str = UrlOption
) -> None:
    """Bring back the deleted workspace NAME with its home as the delete left it (while
    retention keeps it), if the name is free."""
    validate_workspace_name(name)
    _then_follow(url, name, wait, as_json, "undelete", name)
