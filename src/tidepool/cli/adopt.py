"""``tidepool workspace adopt``: an unclaimed instance becomes a workspace again.

A host command (root, like ``tidepool vm``): it writes the control plane's own records and
stamps the instance, then starts the workspace through the platform's worker if ``serve``
runs, else itself. ``tidepool service status`` lists what there is to adopt.
"""

from __future__ import annotations

import typer

from tidepool.bootstrap import Tidepool
from tidepool.cli.output import console, friendly_errors, with_app
from tidepool.domain.identity import LOCAL_OWNER
from tidepool.domain.names import InstanceName, validate_workspace_name
from tidepool.domain.users import validate_user_name
from tidepool.errors import InvalidInputError
from tidepool.services.adoption import Adopted
from tidepool.services.workspaces import instance_name


@friendly_errors
def adopt_command(
    instance: str = typer.Argument("", help="The instance, as `tidepool service status` lists it."),
    name: str = typer.Option(
        "", "--name", "-n", help="The workspace's name (default: the instance's, if it is one)."
    ),
    owner: str = typer.Option(
        LOCAL_OWNER, "--owner", help="The user it belongs to (default: the host's own)."
    ),
    take_over: bool = typer.Option(
        False, "--take-over", help="Adopt an instance another installation made."
    ),
    earlier: bool = typer.Option(
        False,
        "--earlier",
        help="Adopt every instance an earlier Tidepool named after its workspace (upgrades).",
    ),
) -> None:
    """Make an instance that no workspace runs on (a switched or restored database, an older
    Tidepool's `test`) a workspace again, with its files; a running one is routed."""
    user = validate_user_name(owner)
    if earlier == bool(instance):
        raise InvalidInputError("Name one instance to adopt, or give --earlier (not both).")
    chosen = InstanceName(_instance(instance)) if instance else None

    async def go(app: Tidepool) -> list[tuple[Adopted, str]]:
        if chosen is None:
            adopted = await app.adoption.earlier(user)
        else:
            workspace_name = validate_workspace_name(name or chosen)
            adopted = [await app.adoption.adopt(chosen, workspace_name, user, take_over=take_over)]
        done = []
        for one in adopted:
            status = one.workspace.status.value
            if one.running:
                with console.status(f"Starting {one.workspace.name}..."):
                    status = (await app.by_hand.run(one.workspace.name)).status.value
            done.append((one, status))
        return done

    for one, status in with_app(go):
        console.print(
            f"Instance [bold]{instance_name(one.workspace)}[/] is workspace "
            f"[bold]{one.workspace.name}[/] of {one.workspace.owner} ({status}).",
            highlight=False,
        )


def _instance(instance: str) -> str:
    try:
        return validate_workspace_name(instance)
    except InvalidInputError:
        raise InvalidInputError(f"{instance!r} is not an instance name.") from None
