"""``tidepool workspace ...``: workspaces through the control plane's API."""

from __future__ import annotations

import json
import os
import webbrowser
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import typer
from rich.table import Table

from tidepool.cli.output import console, fail, friendly_errors, run_async
from tidepool.client import JSON, ApiClient
from tidepool.domain.activity import parse_duration
from tidepool.domain.names import validate_workspace_name
from tidepool.errors import NotFoundError
from tidepool.settings import get_settings

app = typer.Typer(
    help="Create, list, start, stop and delete workspaces (the platform must run: "
    "`tidepool service start`)."
)
T = TypeVar("T")
UrlOption = typer.Option(
    "", "--url", help="API base URL (default: the local API socket); sign in with TIDEPOOL_TOKEN."
)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts.")
WaitOption = typer.Option(True, "--wait/--no-wait", help="Follow progress until it settles.")
PHASES = {
    "instance_created": "instance created",
    "booted": "booted",
    "ide_healthy": "IDE healthy",
    "cloned": "repository cloned",
    "clone_failed": "clone failed (`tidepool workspace logs NAME`)",
    "route_live": "route live",
    "setup_started": "setup running behind the IDE (`tidepool workspace logs -f NAME`)",
    "setup_finished": "setup done",
}
SETTLED = {"running", "stopped", "deleted", "failed"}
#: An API token (``tidepool token create``) for ``--url`` when sign-in is on. An environment
#: variable, not an option: options show up in ``ps`` and in shell history.
TOKEN_VARIABLE = "TIDEPOOL_TOKEN"  # noqa: S105 (the variable's name, not a secret)


def call_api(url: str, action: Callable[[ApiClient], Awaitable[T]]) -> T:
    async def go() -> T:
        token = os.environ.get(TOKEN_VARIABLE, "")
        client = ApiClient.connect(socket=get_settings().api_socket, url=url, token=token)
        try:
            return await action(client)
        finally:
            await client.aclose()

    return run_async(go())


def print_workspace(workspace: JSON, as_json: bool) -> None:
    if as_json:
        print(json.dumps(workspace, indent=2))
        return
    table = Table(show_header=False)
    for key in (
        "name",
        "status",
        "desired",
        "owner",
        "template",
        "image",
        "cpus",
        "memory_mib",
        "disk_gib",
        "repository",
        "branch",
        "address",
        "url",
        "error",
        "stop_reason",
        "keepalive_until",
        "location",
    ):
        if workspace.get(key):
            table.add_row(key, str(workspace[key]))
    activity = workspace.get("activity")
    if activity:
        table.add_row("active", describe_activity(activity))
        table.add_row("idle stop", str(activity.get("idle_stop_at") or "never"))
    for forwarded in workspace.get("ports") or []:
        table.add_row(f"port {forwarded['port']}", forwarded["url"])
    console.print(table)


def describe_activity(activity: JSON) -> str:
    """``work (sleep 600) at 09:12:03``: the signal that keeps a workspace up, and when."""
    last = activity["last"]
    detail = f" ({last['detail']})" if last.get("detail") else ""
    return f"{last['signal']}{detail} at {last['at']}"


async def follow(client: ApiClient, name: str, until: set[str], asked: JSON) -> JSON:
    """Show status changes and start-up phases live, until the status is one of ``until``.

    ``asked`` is the workspace as the request left it. The stream replays the workspace's
    history first, so a status in ``until`` is believed only once the workspace itself says
    so and has changed since the request: an old ``running``, or the ``failed`` that a retry
    is meant to clear, is not this request's answer.
    """
    if asked["status"] in until - {"failed"}:
        return asked  # already there: the request changed nothing
    asked_at = datetime.fromisoformat(asked["updated_at"])
    with console.status(f"{name}: waiting...") as status:
        async for event in client.events(name):
            if event["kind"] == "phase" and datetime.fromisoformat(event["at"]) < asked_at:
                continue  # an earlier start's phase, replayed with the history
            if event["kind"] == "phase":
                label = PHASES.get(event["value"], event["value"])
                console.print(f"  [green]✓[/] {label} [dim]({event['detail']})[/]")
            elif event["kind"] == "waiting":
                status.update(f"{name}: waiting for the runtime ({event['detail']})...")
            elif event["kind"] == "status":
                status.update(f"{name}: {event['value']}...")
                if event["value"] in until:
                    if "deleted" in until:
                        return {"name": name, "status": "deleted"}
                    current = await client.get(name)
                    if current["status"] in until and _later(current, asked):
                        return current
    return await client.get(name)


def _later(current: JSON, asked: JSON) -> bool:
    """``current`` was written after ``asked`` (by the worker acting on the request)."""
    when = datetime.fromisoformat
    return when(current["updated_at"]) > when(asked["updated_at"])


def _act(
    name: str,
    action: str,
    wait: bool,
    as_json: bool,
    url: str,
    until: set[str],
    template: str | None = None,
    fields: Mapping[str, int | str | None] | None = None,
) -> None:
    validate_workspace_name(name)

    async def go(client: ApiClient) -> JSON:
        workspace = await (
            client.create(name, template, **(fields or {}))
            if action == "create"
            else client.act(name, action)
        )
        if wait and not as_json:
            workspace = await follow(client, name, until, workspace)
        return workspace

    workspace = call_api(url, go)
    print_workspace(workspace, as_json)
    if wait and workspace.get("status") == "failed":
        fail(f"Workspace {name} failed: {workspace.get('error')}")


@app.command("create")
@friendly_errors
def create(
    name: str,
    template: str = typer.Option(
        "", "--template", "-t", help="What to make it from (`tidepool template list`)."
    ),
    cpus: int | None = typer.Option(None, "--cpus", help="Instead of the template's."),
    memory: int | None = typer.Option(None, "--memory", help="MiB, instead of the template's."),
    disk: int | None = typer.Option(None, "--disk", help="GiB, instead of the template's."),
    repository: str = typer.Option(
        "", "--repository", "-r", help="An https:// git URL to clone into home."
    ),
    branch: str = typer.Option("", "--branch", "-b", help="The branch to check out."),
    wait: bool = WaitOption,
    as_json: bool = JsonOption,
    url: str = UrlOption,
) -> None:
    """Create a workspace and (by default) follow it until it runs."""
    fields: dict[str, int | str | None] = {
        "cpus": cpus,
        "memory_mib": memory,
        "disk_gib": disk,
        "repository": repository or None,
        "branch": branch or None,
    }
    _act(name, "create", wait, as_json, url, {"running", "failed"}, template or None, fields)


@app.command("up")
@friendly_errors
def up(name: str, as_json: bool = JsonOption, url: str = UrlOption) -> None:
    """Create the workspace, or start it, and wait until it runs: safe to run again."""
    validate_workspace_name(name)

    async def go(client: ApiClient) -> JSON:
        try:
            workspace = await client.get(name)
        except NotFoundError:
            workspace = await client.create(name)
        else:
            if workspace["status"] in ("stopped", "stopping", "failed"):
                workspace = await client.act(name, "start")
        if workspace["status"] != "running":
            workspace = await follow(client, name, {"running", "failed"}, workspace)
        return workspace

    workspace = call_api(url, go)
    print_workspace(workspace, as_json)
    if workspace.get("status") == "failed":
        fail(f"Workspace {name} failed: {workspace.get('error')}")


@app.command("start")
@friendly_errors
def start(
    name: str, wait: bool = WaitOption, as_json: bool = JsonOption, url: str = UrlOption
) -> None:
    """Start a stopped (or failed) workspace."""
    _act(name, "start", wait, as_json, url, {"running", "failed"})


@app.command("stop")
@friendly_errors
def stop(
    name: str, wait: bool = WaitOption, as_json: bool = JsonOption, url: str = UrlOption
) -> None:
    """Stop a workspace; its files are kept."""
    _act(name, "stop", wait, as_json, url, {"stopped", "failed"})


@app.command("delete")
@friendly_errors
def delete(
    name: str, wait: bool = WaitOption, as_json: bool = JsonOption, url: str = UrlOption
) -> None:
    """Delete a workspace and its instance. Its home is kept, as a snapshot, for the
    snapshot retention (`tidepool workspace undelete NAME` brings it back)."""
    _act(name, "delete", wait, as_json, url, {"deleted", "failed"})


@app.command("list")
@friendly_errors
def list_(
    status: str = typer.Option("", "--status", help="Only workspaces in this status."),
    as_json: bool = JsonOption,
    url: str = UrlOption,
) -> None:
    """List workspaces."""
    page = call_api(url, lambda client: client.list(status or None))
    if as_json:
        print(json.dumps(page, indent=2))
        return
    table = Table("name", "owner", "status", "url", "active", "error")
    for item in page["items"]:
        activity = item.get("activity")
        active = describe_activity(activity) if activity else item.get("stop_reason", "")
        table.add_row(
            item["name"], item["owner"], item["status"], item["url"], active, item["error"]
        )
    console.print(table if page["items"] else "No workspaces.")


@app.command("keepalive")
@friendly_errors
def keepalive(
    name: str,
    duration: str = typer.Argument("", help="How long from now: 3h, 90m, 1d (at most 7d)."),
    end: bool = typer.Option(False, "--end", help="End the keepalive now."),
    as_json: bool = JsonOption,
    url: str = UrlOption,
) -> None:
    """Keep a workspace from being stopped for idleness for a while."""
    validate_workspace_name(name)
    if end == bool(duration):
        fail("Give a duration (3h, 90m, 1d) or --end.", code=2)
    parse_duration(duration or "0s")  # a readable refusal here, not the schema's pattern
    asked = None if end else duration.strip().lower()
    workspace = call_api(url, lambda client: client.keepalive(name, asked))
    print_workspace(workspace, as_json)


@app.command("move")
@friendly_errors
def move(
    name: str,
    to: str = typer.Option(..., "--to", help="The cluster member to move it to."),
    as_json: bool = JsonOption,
    url: str = UrlOption,
) -> None:
    """Move a stopped workspace to another cluster member, with its files."""
    validate_workspace_name(name)
    with console.status(f"Moving {name} to {to}..."):
        workspace = call_api(url, lambda client: client.move(name, to))
    print_workspace(workspace, as_json)


@app.command("show")
@friendly_errors
def show(name: str, as_json: bool = JsonOption, url: str = UrlOption) -> None:
    """Show one workspace."""
    validate_workspace_name(name)
    print_workspace(call_api(url, lambda client: client.get(name)), as_json)


@app.command("logs")
@friendly_errors
def logs(
    name: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing as steps print."),
    url: str = UrlOption,
) -> None:
    """The workspace's setup log: what each step (clone, dev container, dotfiles) printed."""
    validate_workspace_name(name)

    async def follow_logs(client: ApiClient) -> None:
        heading = _Heading()
        async for event in client.events(name):
            if event["kind"] == "log":
                heading.print(event["value"], event["detail"])

    if follow:
        call_api(url, follow_logs)
        return
    found = call_api(url, lambda client: client.logs(name))
    if not found["items"]:
        console.print(f"No setup log for {name} (yet): nothing to clone, or not booted.")
    heading = _Heading()
    for entry in found["items"]:
        heading.print(entry["step"], entry["text"])


class _Heading:
    """Prints a step's heading once for its run of lines (a step tells its output in many
    pieces, as it comes)."""

    def __init__(self) -> None:
        self._step = ""

    def print(self, step: str, text: str) -> None:
        if step != self._step:
            console.print(f"[bold]== {step}[/]")
            self._step = step
        print(text.rstrip("\n"))


@app.command("open")
@friendly_errors
def open_(name: str, url: str = UrlOption) -> None:
    """Print the workspace's URL and open it in a browser if there is one."""
    validate_workspace_name(name)
    workspace: dict[str, Any] = call_api(url, lambda client: client.get(name))
    if workspace["status"] != "running":
        fail(f"Workspace {name} is {workspace['status']}; start it first.")
    print(workspace["url"])
    webbrowser.open(workspace["url"])
