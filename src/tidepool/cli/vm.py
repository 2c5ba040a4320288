"""``tidepool vm ...``: one workspace instance by hand (the vertical slice's scripts)."""

from __future__ import annotations

import httpx
import typer

from tidepool import bootstrap
from tidepool.cli.output import console, friendly_errors, run_async
from tidepool.domain.names import validate_workspace_name
from tidepool.errors import InvalidInputError
from tidepool.images import bundle
from tidepool.images.inputs import (
    BundleInputs,
    host_extra_ca,
    provisioning_script,
    script_environment,
)
from tidepool.services.instances import SetupPlan, setup_instance, start_instance
from tidepool.settings import Settings, get_settings

app = typer.Typer(help="Start, set up, stop and delete one workspace instance.")
NameOption = typer.Option(..., "--name", "-n", help="Workspace name (a DNS-safe slug).")
RuntimeOption = typer.Option(
    None, "--runtime", help="incus (Linux) or tart (macOS); default: the `runtime` setting."
)


def _settings(runtime: str | None) -> Settings:
    settings = get_settings()
    if runtime is None:
        return settings
    if runtime not in ("incus", "tart"):
        raise InvalidInputError(f"Unknown runtime {runtime!r}; use incus or tart.")
    return settings.model_copy(update={"runtime": runtime})


@app.command("start")
@friendly_errors
def vm_start(
    name: str = NameOption,
    image: str = typer.Option(
        "", "--image", help="Image: an Incus alias, or a Tart image or OCI reference."
    ),
    runtime: str | None = RuntimeOption,
) -> None:
    """Create the instance if needed, start it and print its IPv4 address."""
    settings = _settings(runtime)
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
    """Push the host's cached code-server bundle if there is one, else install with npm.

    The bundle is built for the Incus image (Debian, x86-64); a Tart VM installs from npm.
    """
    environment = script_environment(
        settings.workspace_user, settings.code_server_version, settings.node_major, "npm"
    )
    tarball = None
    if settings.runtime == "incus":
        inputs = BundleInputs(settings.code_server_version, settings.node_major)
        tarball = bundle.cached_bundle_tarball(inputs, settings.cache_dir)
    if tarball is None:
        environment["NPM_REGISTRY"] = bundle.npm_registry()
    return SetupPlan(
        provisioning_script().read_bytes(),
        environment,
        host_extra_ca(settings.trust_host_ca),
        tarball,
    )


@app.command("setup")
@friendly_errors
def vm_setup(name: str = NameOption, runtime: str | None = RuntimeOption) -> None:
    """Make sure code-server is installed, configured and running in the instance."""
    settings = _settings(runtime)
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
def vm_stop(name: str = NameOption, runtime: str | None = RuntimeOption) -> None:
    """Stop the instance (its disk and files are kept)."""
    settings = _settings(runtime)
    validate_workspace_name(name)

    async def go() -> None:
        async with bootstrap.opened_runtime(settings) as runtime:
            await runtime.stop(name)

    run_async(go())
    console.print(f"Instance [bold]{name}[/] stopped.")


@app.command("delete")
@friendly_errors
def vm_delete(name: str = NameOption, runtime: str | None = RuntimeOption) -> None:
    """Delete the instance and its disk."""
    settings = _settings(runtime)
    validate_workspace_name(name)

    async def go() -> None:
        async with bootstrap.opened_runtime(settings) as runtime:
            await runtime.delete(name)

    run_async(go())
    console.print(f"Instance [bold]{name}[/] deleted.")
