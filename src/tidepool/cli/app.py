"""The ``tidepool`` command: one Typer app, one sub-app per area."""

from __future__ import annotations

import typer

from tidepool.cli import (
    adopt,
    audit,
    caddy,
    checklist,
    database,
    home,
    host,
    idle_timeout,
    image,
    key,
    personal,
    serve,
    service,
    template,
    token,
    user,
    vm,
    workspace,
)
from tidepool.cli import ssh as ssh_cli

app = typer.Typer(
    name="tidepool",
    help="Self-hosted cloud development workspaces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(host.app, name="host")
app.add_typer(image.app, name="image")
app.add_typer(vm.app, name="vm")
app.add_typer(caddy.caddy_app, name="caddy")
app.add_typer(caddy.route_app, name="route")
app.command("verify")(checklist.verify_command)
app.command("down")(checklist.down_command)
app.command("serve")(serve.serve_command)
app.add_typer(service.app, name="service")
app.add_typer(database.app, name="database")
app.add_typer(workspace.app, name="workspace")
workspace.app.command("adopt")(adopt.adopt_command)
workspace.app.command("rebuild")(home.rebuild_command)
workspace.app.command("fork")(home.fork_command)
workspace.app.command("undelete")(home.undelete_command)
app.add_typer(home.snapshot_app, name="snapshot")
app.add_typer(template.app, name="template")
app.add_typer(user.app, name="user")
app.add_typer(token.app, name="token")
app.add_typer(key.app, name="key")
app.command("idle-timeout")(idle_timeout.idle_timeout_command)
app.add_typer(personal.dotfiles_app, name="dotfiles")
app.add_typer(personal.credential_app, name="git-credential")
app.command("ssh")(ssh_cli.ssh)
app.command("config-ssh")(ssh_cli.config_ssh)
app.command("audit")(audit.audit_command)


def main() -> None:
    app()
