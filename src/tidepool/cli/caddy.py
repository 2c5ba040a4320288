"""``tidepool caddy ...`` and ``tidepool route ...``: the front door by hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.table import Table

from tidepool import bootstrap
from tidepool.adapters.caddy.process import ensure_base_config, wait_until_serving
from tidepool.cli.output import console, friendly_errors, run_async
from tidepool.domain.names import validate_ipv4, validate_workspace_name
from tidepool.ports import RouteTable
from tidepool.settings import get_settings

caddy_app = typer.Typer(help="Start and stop Tidepool's Caddy.")
route_app = typer.Typer(help="Add, remove and list workspace routes in Caddy.")
NameOption = typer.Option(..., "--name", "-n", help="Workspace name (a DNS-safe slug).")
T = TypeVar("T")


async def _with_routes(action: Callable[[RouteTable], Awaitable[T]]) -> T:
    async with bootstrap.opened_route_table(get_settings()) as routes:
        return await action(routes)


def _say_if_caddy_is_down() -> None:
    """Routes are files Caddy reads per request, so they can be changed while it is down;
    say so, or a user would wonder why the URL does not answer."""
    if bootstrap.caddy_process(get_settings()).pid() is None:
        console.print(
            "[yellow]Caddy is not running[/]: routes take effect once "
            "`tidepool caddy bootstrap` starts it."
        )


@caddy_app.command("bootstrap")
@friendly_errors
def caddy_bootstrap() -> None:
    """Start Caddy if it is not running and load Tidepool's base config (keeps routes)."""
    settings = get_settings()
    process = bootstrap.caddy_process(settings)
    started = process.start()

    async def configure() -> bool:
        admin = bootstrap.caddy_admin(settings)
        try:
            await wait_until_serving(admin)
            return await ensure_base_config(admin, bootstrap.caddy_options(settings))
        finally:
            await admin.aclose()

    loaded = run_async(configure())
    console.print(
        f"Caddy {'started' if started else 'already running'} (pid {process.pid()}), "
        f"{'base config loaded' if loaded else 'config in place'}; "
        f"serving {settings.workspace_base_url}, admin API on unix:{settings.caddy_admin_socket}"
    )


@caddy_app.command("stop")
@friendly_errors
def caddy_stop() -> None:
    """Stop Tidepool's Caddy (its routes are restored when it starts again)."""
    stopped = bootstrap.caddy_process(get_settings()).stop()
    console.print("Caddy stopped." if stopped else "Caddy was not running.")


@route_app.command("add")
@friendly_errors
def route_add(
    name: str = NameOption,
    ip: str = typer.Option(..., "--ip", "-i", help="The instance's IPv4 address."),
) -> None:
    """Route /workspace/NAME/ to code-server at IP:8080."""
    name, ip = validate_workspace_name(name), validate_ipv4(ip)
    changed = run_async(_with_routes(lambda routes: routes.add(name, ip)))
    if changed:
        console.print(f"Route added: /workspace/{name}/ -> {ip}:8080")
    else:
        console.print(f"Route already present: /workspace/{name}/ -> {ip}:8080 (nothing changed)")
    _say_if_caddy_is_down()


@route_app.command("remove")
@friendly_errors
def route_remove(name: str = NameOption) -> None:
    """Remove the route of workspace NAME."""
    name = validate_workspace_name(name)
    run_async(_with_routes(lambda routes: routes.remove(name)))
    console.print(f"Route removed: /workspace/{name}/")


@route_app.command("list")
@friendly_errors
def route_list() -> None:
    """List every workspace route."""
    routes = run_async(_with_routes(lambda routes: routes.list()))
    table = Table("workspace", "upstream")
    for name, address in sorted(routes.items()):
        table.add_row(f"/workspace/{name}/", f"{address}:8080")
    console.print(table if routes else "No routes.")
    _say_if_caddy_is_down()
