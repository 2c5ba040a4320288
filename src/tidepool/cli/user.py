"""``tidepool user ...``: the people who may sign in.

Root on the host changes the users file directly; each change is recorded in the audit log
with the host as its actor. Removing a user or taking their admin power away reaches their
open event streams within seconds (they check their credential again).
"""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from tidepool.auth.audit import audit_log_in
from tidepool.auth.users import UserFile, validate_user_name
from tidepool.cli.output import console, fail, friendly_errors
from tidepool.domain.audit import AuditEntry, Outcome
from tidepool.domain.identity import HOST
from tidepool.policies import quota_of
from tidepool.settings import get_settings
from tidepool.sign_in_records import users

app = typer.Typer(help="Add, remove and list the users who may sign in.")


def _users() -> UserFile:
    return users(get_settings())


def _record(action: str, name: str, detail: str = "") -> None:
    """Note a change made (the CLI changes a file: a refused one changed nothing)."""
    entry = AuditEntry.by(HOST, action, name, Outcome.OK, detail)
    audit_log_in(get_settings().data_dir).append(entry)


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
    _record("user.add", user.name, "admin" if user.admin else "")
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
    _record("user.remove", name)
    console.print(f"User [bold]{name}[/] removed.")


@app.command("admin")
@friendly_errors
def admin_(
    name: str,
    on: bool = typer.Option(True, "--on/--off", help="Give or take away admin power."),
) -> None:
    """Make a user an admin (--on, the default) or a plain user (--off)."""
    user = _users().set_admin(validate_user_name(name), on)
    _record("user.admin", user.name, "on" if user.admin else "off")
    console.print(f"User [bold]{user.name}[/] is {'now an admin' if user.admin else 'no admin'}.")


@app.command("quota")
@friendly_errors
def quota(
    name: str,
    workspaces: int | None = typer.Option(None, "--workspaces", min=0, help="How many."),
    running: int | None = typer.Option(None, "--running", min=0, help="How many at once."),
    cpus: int | None = typer.Option(None, "--cpus", min=0, help="CPUs of the running ones."),
    memory_mib: int | None = typer.Option(
        None, "--memory-mib", min=0, help="MiB of memory of the running ones."
    ),
    reset: bool = typer.Option(False, "--reset", help="Back to the platform's quotas."),
) -> None:
    """Show a user's quotas, or give them their own (0: no limit). Only what is given
    changes; --reset gives them the platform's (quota_* in the settings) again."""
    users = _users()
    user = users.get(validate_user_name(name))
    given = {"workspaces": workspaces, "running": running, "cpus": cpus, "memory_mib": memory_mib}
    changes = {key: value for key, value in given.items() if value is not None}
    if reset or changes:
        own = {} if reset else {**user.quota, **changes}
        user = users.set_quota(user.name, own)
        _record("user.quota", user.name, ", ".join(f"{k}={v}" for k, v in own.items()) or "reset")
    effective = quota_of(get_settings())(user.name)
    table = Table("quota", "limit", "whose")
    for key, value in effective.as_dict().items():
        whose = "theirs" if key in user.quota else "the platform's"
        table.add_row(key, "no limit" if value is None else str(value), whose)
    console.print(table)


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
