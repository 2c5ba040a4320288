"""``tidepool vm ...``: one workspace's machine by hand (the seed's vertical-slice commands).

Each command acts on the control plane's own record of the workspace (``ByHand``): ``vm
start`` makes the workspace if there is none, so ``tidepool serve`` and the web app see it,
and the instance is named by the one rule (``PREFIX-`` and the workspace's id).
"""

from __future__ import annotations

import typer

from tidepool import bootstrap
from tidepool.bootstrap import Tidepool
from tidepool.cli.output import console, friendly_errors, with_app
from tidepool.domain.names import validate_workspace_name
from tidepool.errors import InvalidInputError
from tidepool.images import bundle
from tidepool.images.inputs import (
    BundleInputs,
    host_extra_ca,
    provisioning_script,
    script_environment,
)
from tidepool.services.instances import SetupPlan, setup_instance
from tidepool.settings import Settings, get_settings

app = typer.Typer(help="Start, set up, stop and delete one workspace's machine by hand.")
NameOption = typer.Option(..., "--name", "-n", help="Workspace name (a DNS-safe slug).")
RuntimeOption = typer.Option(
    None, "--runtime", help="incus (Linux) or tart (macOS); default: the `runtime` setting."
)


def _settings(runtime: str | None) -> Settings:
    settings = get_settings()
    if runtime is None:
        return settings
    if runtime not in bootstrap.installed_runtimes():
        raise InvalidInputError(
            f"Unknown runtime {runtime!r}; use {' or '.join(bootstrap.installed_runtimes())}."
        )
    # Built again, not copied, so that what follows from the runtime (its image) follows.
    chosen = {field: getattr(settings, field) for field in settings.model_fields_set}
    return Settings(**{**chosen, "runtime": runtime})


@app.command("start")
@friendly_errors
def vm_start(
    name: str = NameOption,
    image: str = typer.Option(
        "", "--image", help="Image: an Incus alias, or a Tart image or OCI reference."
    ),
    runtime: str | None = RuntimeOption,
) -> None:
    """Create the workspace if needed, start its machine and print its IPv4 address."""
    settings = _settings(runtime)
    workspace_name = validate_workspace_name(name)

    async def go(app: Tidepool) -> str:
        with console.status(f"Starting {workspace_name}..."):
            workspace = await app.by_hand.start(workspace_name, image or None)
        return workspace.address or ""

    address = with_app(go, settings)
    console.print(f"Workspace [bold]{workspace_name}[/] is running at [bold]{address}[/]")
    print(address)


def setup_plan(settings: Settings) -> SetupPlan:
    """Push the host's cached code-server bundle if there is one, else install with npm.

    The bundle is built for the Incus image (Debian, x86-64); a Tart VM installs from npm.
    """
    environment = script_environment(
        settings.workspace_user, settings.code_server_version, settings.node_major, "npm"
    )
    tarball = None
    if settings.runtime != "incus":
        # A Tart VM without the guest agent is reached over SSH as root: its sshd is not
        # narrowed to the tunnel's (loopback, dev only), and it gets no bridge.
        environment.pop("TIDEPOOL_SSH_BRIDGE_PORT")
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
    """Make sure code-server is installed, configured and running in the workspace."""
    settings = _settings(runtime)
    workspace_name = validate_workspace_name(name)

    async def go(app: Tidepool) -> str:
        instance = await app.by_hand.instance_of(workspace_name)
        with console.status(f"Setting up {workspace_name}...") as status:
            return await setup_instance(
                app.runtime, app.http, instance, lambda: setup_plan(settings), report=status.update
            )

    address = with_app(go, settings)
    console.print(f"code-server is healthy at http://{address}:8080/")


@app.command("stop")
@friendly_errors
def vm_stop(name: str = NameOption, runtime: str | None = RuntimeOption) -> None:
    """Stop the workspace: its route goes, its machine stops, its files are kept."""
    workspace_name = validate_workspace_name(name)
    with_app(lambda app: app.by_hand.stop(workspace_name), _settings(runtime))
    console.print(f"Workspace [bold]{workspace_name}[/] stopped (files kept).")


@app.command("delete")
@friendly_errors
def vm_delete(name: str = NameOption, runtime: str | None = RuntimeOption) -> None:
    """Delete the workspace: its route, its machine and its disk."""
    workspace_name = validate_workspace_name(name)
    with_app(lambda app: app.by_hand.delete(workspace_name), _settings(runtime))
    console.print(f"Workspace [bold]{workspace_name}[/] deleted.")
