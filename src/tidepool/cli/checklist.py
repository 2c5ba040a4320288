"""``tidepool verify`` and ``tidepool down``: check and tear down the vertical slice."""

from __future__ import annotations

import contextlib

import httpx
import typer
from rich.table import Table

from tidepool import bootstrap
from tidepool.cli.output import console, friendly_errors, run_async
from tidepool.domain.names import validate_workspace_name
from tidepool.errors import NotFoundError
from tidepool.retry import RetryingTransport
from tidepool.services.verify import Check, verify
from tidepool.settings import get_settings

NameOption = typer.Option("test", "--name", "-n", help="Workspace name (a DNS-safe slug).")


@friendly_errors
def verify_command(name: str = NameOption) -> None:
    """Check instance, code-server, route, workbench and WebSocket; exit 1 if any fails."""
    settings = get_settings()
    name = validate_workspace_name(name)

    async def go() -> list[Check]:
        async with (
            # Through Caddy, which another workspace's change may reload mid-request.
            httpx.AsyncClient(transport=RetryingTransport()) as http,
            bootstrap.opened_runtime(settings) as runtime,
            bootstrap.opened_route_table(settings) as routes,
        ):
            return await verify(
                runtime,
                routes,
                http,
                name,
                settings.workspace_base_url,
            )

    checks = run_async(go())
    table = Table("check", "", "detail", title=f"tidepool verify -n {name}")
    for check in checks:
        table.add_row(check.name, "[green]PASS[/]" if check.ok else "[red]FAIL[/]", check.detail)
    console.print(table)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
    console.print(f"Open {settings.workspace_url(name)}")


@friendly_errors
def down_command(name: str = NameOption) -> None:
    """Remove the workspace's route and delete its instance (each only if present)."""
    settings = get_settings()
    name = validate_workspace_name(name)

    async def go() -> list[str]:
        done = []
        async with bootstrap.opened_route_table(settings) as routes:
            with contextlib.suppress(NotFoundError):
                await routes.remove(name)
                done.append("route removed")
        async with bootstrap.opened_runtime(settings) as runtime:
            with contextlib.suppress(NotFoundError):
                await runtime.delete(name)
                done.append("instance deleted")
        return done

    done = run_async(go())
    console.print(", ".join(done).capitalize() + "." if done else f"Nothing of {name} was left.")
