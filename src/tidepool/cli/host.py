"""``tidepool host ...``: prepare this machine to run workspaces."""

from __future__ import annotations

import typer

from tidepool import bootstrap
from tidepool.cli.output import console, friendly_errors, print_steps, run_async
from tidepool.host import init
from tidepool.host.steps import StepResult
from tidepool.settings import get_settings

app = typer.Typer(help="Prepare this Linux host: Incus, its bridge, storage and limits.")


@app.command("init")
@friendly_errors
def host_init() -> None:
    """Install and start Incus, preseed its bridge, storage pool and profile. Idempotent."""
    settings = get_settings()
    init.check_host()
    results: list[StepResult] = []
    with console.status("Preparing the host...") as status:
        for step in init.system_steps(settings):
            results.append(step())
            status.update(f"Preparing the host... {results[-1].name}: {results[-1].detail}")
        results.extend(run_async(init.preseed(settings, bootstrap.incus_client(settings))))
        results.append(init.firewall_step(settings))
    changed = print_steps("tidepool host init", results)
    console.print("Host ready." if changed else "Host already ready: nothing changed.")
