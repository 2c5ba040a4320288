"""``tidepool verify`` and ``tidepool down``: check and tear down one workspace by hand."""

from __future__ import annotations

import contextlib

import httpx
import typer
from rich.table import Table

from tidepool.bootstrap import Tidepool
from tidepool.cli.output import console, friendly_errors, with_app
from tidepool.domain.names import InstanceName, validate_workspace_name
from tidepool.errors import NotFoundError
from tidepool.loopback import LoopbackNames, websocket_options
from tidepool.retry import RetryingTransport
from tidepool.services.verify import Check, verify
from tidepool.settings import get_settings

NameOption = typer.Option("test", "--name", "-n", help="Workspace name (a DNS-safe slug).")


@friendly_errors
def verify_command(name: str = NameOption) -> None:
    """Check instance, code-server, route, workbench and WebSocket; exit 1 if any fails."""
    settings = get_settings()
    workspace_name = validate_workspace_name(name)

    async def go(app: Tidepool) -> list[Check]:
        instance: InstanceName | None = None
        with contextlib.suppress(NotFoundError):
            instance = await app.by_hand.instance_of(workspace_name)
        # Through Caddy, which a sign-in may reload mid-request: retry as a browser would.
        async with httpx.AsyncClient(transport=LoopbackNames(RetryingTransport())) as http:
            return await verify(
                app.runtime,
                app.routes,
                http,
                workspace_name,
                instance,
                settings.workspace_url(workspace_name),
                dial=websocket_options(settings.workspace_url(workspace_name)),
            )

    checks = with_app(go, settings)
    table = Table("check", "", "detail", title=f"tidepool verify -n {workspace_name}")
    for check in checks:
        table.add_row(check.name, "[green]PASS[/]" if check.ok else "[red]FAIL[/]", check.detail)
    console.print(table)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
    console.print(f"Open {settings.workspace_url(workspace_name)}")


@friendly_errors
def down_command(name: str = NameOption) -> None:
    """Delete the workspace: its route and its instance (each only if present)."""
    workspace_name = validate_workspace_name(name)

    async def go(app: Tidepool) -> list[str]:
        try:
            removed = await app.by_hand.delete(workspace_name)
        except NotFoundError:
            return []
        done = ["route removed"] if removed.route else []
        return done + (["instance deleted"] if removed.instance else [])

    done = with_app(go)
    console.print(
        ", ".join(done).capitalize() + "." if done else f"Nothing of {workspace_name} was left."
    )
