"""``tidepool user ...``: the people who may sign in (``auth = "basic"``)."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from tidepool.auth.users import UserFile, validate_user_name
from tidepool.cli.output import console, fail, friendly_errors
from tidepool.settings import get_settings

app = typer.Typer(help="Add, remove and list the users who may sign in.")


def _users() -> UserFile:
    return UserFile(get_settings().users_file)


@app.command("add")
@friendly_errors
def add(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="May see and act on every workspace."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (for scripts)."
    ),
) -> None:
    """Add a user; the password is read without echo and stored only as a bcrypt hash."""
    validate_user_name(name)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = _users().add(name, password, admin=admin)
    console.print(f"User [bold]{user.name}[/] added{' (admin)' if user.admin else ''}.")
    if get_settings().auth == "none":
        console.print(
            '[yellow]Note:[/] sign-in is off; set auth = "forward_auth" (or "basic") to turn it on.'
        )


@app.command("remove")
@friendly_errors
def remove(name: str) -> None:
    """Remove a user (their workspaces stay; an admin can still reach them)."""
    _users().remove(validate_user_name(name))
    console.print(f"User [bold]{name}[/] removed.")


@app.command("list")
@friendly_errors
def list_() -> None:
    """List the users (never their passwords)."""
    users = _users().load()
    if not users:
        fail("No users yet: add one with `tidepool user add NAME`.", code=0)
    table = Table("user", "admin")
    for user in users:
        table.add_row(user.name, "yes" if user.admin else "")
    console.print(table)
