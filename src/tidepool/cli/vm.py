"""``tidepool vm ...``: one workspace instance by hand (the vertical slice's scripts)."""

from __future__ import annotations

import httpx
import typer

from tidepool import bootstrap
from tidepool.cli.output import console, friendly_errors, run_async
from tidepool.domain.names import validate_workspace_name
from tidepool.images import bundle
from tidepool.images.builder import image_inputs
from tidepool.services.instances import SetupPlan, setup_instance, start_instance
from tidepool.settings import Settings, get_settings

app = typer.Typer(help="Start, set up, stop and delete one workspace instance.")
NameOption = typer.Option(..., "--name", "-n", help="Workspace name (a DNS-safe slug).")


@app.command("start")
@friendly_errors
def vm_start(
    name: str = NameOption,
    image: str = typer.Option("", "--image", help="Incus image alias (default: the built one)."),
) -> None:
    """Create the instance if needed, start it and print its IPv4 address."""
    settings = get_settings()
    validate_workspace_name(name)
    defaults = bootstrap.instance_defaults(settings, image or None)

    async def go() -> str:
        async with bootstrap.opened_runtime(settings) as runtime:
            with console.status(f"Starting {name}...") as status:
                result = await start_instance(runtime, name, defaults, report=status.update)
        return result.address

    address = run_async(go())
    console.print(f"Instance [bold]{name}[/] is running at [bold]{address}[/]")
    print(address)


def setup_plan(settings: Settings) -> SetupPlan:
    """Push the host's cached code-server bundle if there is one, else install with npm."""
    inputs = image_inputs(settings)
    environment = {
        "TIDEPOOL_USER": settings.workspace_user,
        "CODE_SERVER_VERSION": settings.code_server_version,
        "NODE_MAJOR": str(settings.node_major),
        "CODE_SERVER_INSTALL": "npm",
    }
    tarball = None
    if inputs.bundle is not None:
        tarball = bundle.cached_bundle_tarball(inputs.bundle, settings.cache_dir)
    if tarball is None:
        environment["NPM_REGISTRY"] = bundle.npm_registry()
    return SetupPlan(inputs.script, environment, inputs.extra_ca, tarball)


@app.command("setup")
@friendly_errors
def vm_setup(name: str = NameOption) -> None:
    """Make sure code-server is installed, configured and running in the instance."""
    settings = get_settings()
    validate_workspace_name(name)

    async def go() -> str:
        async with bootstrap.opened_runtime(settings) as runtime, httpx.AsyncClient() as http:
            with console.status(f"Setting up {name}...") as status:
                return await setup_instance(
                    runtime, http, name, lambda: setup_plan(settings), report=status.update
                )

    address = run_async(go())
    console.print(f"code-server is healthy at http://{address}:8080/")


@app.command("stop")
@friendly_errors
def vm_stop(name: str = NameOption) -> None:
    """Stop the instance (its disk and files are kept)."""
    settings = get_settings()
    validate_workspace_name(name)

    async def go() -> None:
        async with bootstrap.opened_runtime(settings) as runtime:
            await runtime.stop(name)

    run_async(go())
    console.print(f"Instance [bold]{name}[/] stopped.")


@app.command("delete")
@friendly_errors
def vm_delete(name: str = NameOption) -> None:
    """Delete the instance and its disk."""
    settings = get_settings()
    validate_workspace_name(name)

    async def go() -> None:
        async with bootstrap.opened_runtime(settings) as runtime:
            await runtime.delete(name)

    run_async(go())
    console.print(f"Instance [bold]{name}[/] deleted.")
