"""``tidepool host ...``: prepare this machine to run workspaces."""

from __future__ import annotations

import typer

from tidepool import bootstrap
from tidepool.cli.output import console, friendly_errors, print_steps, run_async
from tidepool.host import incus_remote, init
from tidepool.host.steps import StepResult
from tidepool.settings import get_settings

app = typer.Typer(help="Prepare this Linux host: Incus, its bridge, storage and limits.")


@app.command("init")
@friendly_errors
def host_init() -> None:
    """Install and start Incus, preseed its bridge, storage pool and profile. Idempotent.

    Also keeps the pool's disk quotas counting and puts the workspace firewall in place."""
    settings = get_settings()
    init.check_host()
    results: list[StepResult] = []
    with console.status("Preparing the host...") as status:
        for step in init.system_steps(settings):
            results.append(step())
            status.update(f"Preparing the host... {results[-1].name}: {results[-1].detail}")
        results.extend(run_async(init.preseed(settings, bootstrap.incus_client(settings))))
        results.append(init.quota_step(settings))
        results.append(init.firewall_step(settings))
    changed = print_steps("tidepool host init", results)
    console.print("Host ready." if changed else "Host already ready: nothing changed.")


@app.command("join")
@friendly_errors
def host_join(
    url: str = typer.Argument(..., help="The Incus server, as https://HOST:8443."),
    token: str = typer.Argument(..., help="From `incus config trust add` on that server."),
    project: str = typer.Option("tidepool", "--project", help="The Incus project to work in."),
) -> None:
    """Drive a remote Incus (or cluster) over HTTPS instead of this host's socket."""
    remote = run_async(incus_remote.join_incus(get_settings(), url, token, project))
    console.print(
        f"Joined Incus at [bold]{remote.url}[/] (project {remote.project}). Workspaces are "
        "made there from the next start: `tidepool service restart`."
    )


@app.command("leave")
@friendly_errors
def host_leave() -> None:
    """Go back to this host's Incus socket, forgetting the remote's credentials."""
    remote = incus_remote.leave_incus(get_settings())
    if remote is None:
        console.print("No remote Incus was joined: this host's socket is in use already.")
        return
    console.print(
        f"Left Incus at {remote.url}. Its operator may now remove Tidepool's certificate "
        "(`incus config trust list`)."
    )
