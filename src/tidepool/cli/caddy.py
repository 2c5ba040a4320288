"""``tidepool caddy ...`` and ``tidepool route ...``: the front door by hand.

A route exists exactly when its workspace runs (``tidepool.domain.routing``): ``route add``
brings the workspace to ``running`` and ``route remove`` stops it, files kept, each through
the control plane's own record, so ``tidepool serve`` agrees and never undoes them.
"""

from __future__ import annotations

import typer
from rich.table import Table

from tidepool import bootstrap
from tidepool.cli.output import console, friendly_errors, run_async, with_app
from tidepool.domain.names import WorkspaceName, validate_ipv4, validate_workspace_name
from tidepool.settings import get_settings

caddy_app = typer.Typer(help="Start and stop Tidepool's Caddy.")
route_app = typer.Typer(help="Add, remove and list workspace routes in Caddy.")
NameOption = typer.Option(..., "--name", "-n", help="Workspace name (a DNS-safe slug).")


def _say_if_caddy_is_down() -> None:
    """Routes are files Caddy reads per request, so they can be changed while it is down;
    say so, or a user would wonder why the URL does not answer."""
    if bootstrap.front_door(get_settings()).pid() is None:
        console.print(
            "[yellow]Caddy is not running[/]: routes take effect once "
            "`tidepool caddy bootstrap` (or `tidepool service start`) starts it."
        )


@caddy_app.command("bootstrap")
@friendly_errors
def caddy_bootstrap() -> None:
    """Start Caddy if it is not running, with the config today's settings call for (routes
    are kept: they are files)."""
    settings = get_settings()
    door = bootstrap.front_door(settings)

    async def start() -> bool:
        try:
            return await door.start()
        finally:
            await door.aclose()

    started = run_async(start())
    console.print(
        f"Caddy {'started' if started else 'already running'} (pid {door.pid()}) with "
        f"today's config; serving {settings.workspace_base_url}, admin API on "
        f"unix:{settings.caddy_admin_socket}"
    )


@caddy_app.command("stop")
@friendly_errors
def caddy_stop() -> None:
    """Stop Tidepool's Caddy (its routes are kept: they are files)."""
    stopped = run_async(bootstrap.front_door(get_settings()).stop())
    console.print("Caddy stopped." if stopped else "Caddy was not running.")


@route_app.command("add")
@friendly_errors
def route_add(
    name: str = NameOption,
    ip: str = typer.Option(..., "--ip", "-i", help="The workspace instance's IPv4 address."),
) -> None:
    """Route /workspace/NAME/ to code-server at IP:8080; the workspace then runs."""
    workspace_name, address = validate_workspace_name(name), validate_ipv4(ip)
    _, changed = with_app(lambda app: app.by_hand.route(workspace_name, address))
    if changed:
        console.print(f"Route added: /workspace/{workspace_name}/ -> {address}:8080")
    else:
        console.print(
            f"Route already present: /workspace/{workspace_name}/ -> {address}:8080 "
            "(nothing changed)"
        )
    _say_if_caddy_is_down()


@route_app.command("remove")
@friendly_errors
def route_remove(name: str = NameOption) -> None:
    """Remove the route of workspace NAME; the workspace stops, its files are kept."""
    workspace_name = validate_workspace_name(name)
    with_app(lambda app: app.by_hand.unroute(workspace_name))
    console.print(
        f"Route removed: /workspace/{workspace_name}/ (the workspace is stopped, files kept; "
        f"`tidepool route add` or `tidepool workspace start {workspace_name}` brings it back)"
    )


@route_app.command("list")
@friendly_errors
def route_list() -> None:
    """List every workspace route."""

    async def read() -> dict[WorkspaceName, str]:
        async with bootstrap.opened_route_table(get_settings()) as routes:
            return dict(await routes.list())

    routes = run_async(read())
    table = Table("workspace", "upstream")
    for name, address in sorted(routes.items()):
        table.add_row(f"/workspace/{name}/", f"{address}:8080")
    console.print(table if routes else "No routes.")
    _say_if_caddy_is_down()
