"""``tidepool dotfiles`` and ``tidepool git-credential``: what a user sets once for all their
workspaces.

A git secret is never an argument (it would be in the shell's history and in ``ps``): it is
read from standard input when that is a pipe, or asked for without echo.
"""

from __future__ import annotations

import getpass
import json
import sys

import typer
from rich.table import Table

from tidepool.cli.key import UrlOption, UserOption, call_api
from tidepool.cli.output import console, fail, friendly_errors, run_async

dotfiles_app = typer.Typer(help="Your dotfiles repository, installed in every new workspace.")
credential_app = typer.Typer(
    help="Your git credentials for private repositories (kept 0600, never shown back)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts.")


@dotfiles_app.command("set")
@friendly_errors
def dotfiles_set(
    repository: str = typer.Argument(..., help="An https:// URL of your dotfiles repository."),
    branch: str = typer.Option("", "--branch", "-b", help="A branch other than the default."),
    url: str = UrlOption,
    user: str = UserOption,
) -> None:
    """Set your dotfiles: each workspace made or started from now on clones them once.

    They go into ~/.dotfiles; the first install script there runs (install.sh, install,
    bootstrap.sh, ...), or, with none, the files are linked into home."""
    saved = run_async(call_api(url, user, "set_dotfiles", repository, branch))
    console.print(f"Dotfiles set: {saved['url']}" + (f" ({branch})" if branch else ""))


@dotfiles_app.command("show")
@friendly_errors
def dotfiles_show(as_json: bool = JsonOption, url: str = UrlOption, user: str = UserOption) -> None:
    """Your dotfiles repository, if you set one."""
    found = run_async(call_api(url, user, "dotfiles"))
    if as_json:
        print(json.dumps(found, indent=2))
    elif found.get("url"):
        branch = f" ({found['branch']})" if found.get("branch") else ""
        console.print(f"{found['url']}{branch}")
    else:
        console.print("No dotfiles set (`tidepool dotfiles set URL`).")


@dotfiles_app.command("clear")
@friendly_errors
def dotfiles_clear(url: str = UrlOption, user: str = UserOption) -> None:
    """New workspaces get no dotfiles (those installed in existing ones stay)."""
    run_async(call_api(url, user, "set_dotfiles", None))
    console.print("Dotfiles cleared.")


@credential_app.command("set")
@friendly_errors
def credential_set(
    host: str = typer.Argument(..., help="The git host, e.g. github.com or git.example.com:8443."),
    username: str = typer.Option(..., "--username", "-u", help="Your user name on that host."),
    url: str = UrlOption,
    user: str = UserOption,
) -> None:
    """Store a password or access token for HOST (read from a pipe, or asked for)."""
    if sys.stdin.isatty():
        secret = getpass.getpass(f"Password or token for {username}@{host}: ")
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        fail("No secret given: pipe it in, or type it at the prompt.")
    saved = run_async(call_api(url, user, "set_git_credential", host, username, secret))
    console.print(
        f"Git credential for {saved['username']}@{saved['host']} saved; workspaces get it at "
        "their next start."
    )


@credential_app.command("list")
@friendly_errors
def credential_list(
    as_json: bool = JsonOption, url: str = UrlOption, user: str = UserOption
) -> None:
    """The hosts you have a credential for (the secrets are never shown)."""
    found = run_async(call_api(url, user, "git_credentials"))
    if as_json:
        print(json.dumps(found, indent=2))
        return
    if not found["items"]:
        fail("No git credentials yet: add one with `tidepool git-credential set`.", code=0)
    table = Table("host", "username")
    for item in found["items"]:
        table.add_row(item["host"], item["username"])
    console.print(table)


@credential_app.command("remove")
@friendly_errors
def credential_remove(
    host: str = typer.Argument(..., help="The host whose credential to remove."),
    url: str = UrlOption,
    user: str = UserOption,
) -> None:
    """Forget the credential for HOST (running workspaces keep it until they stop)."""
    run_async(call_api(url, user, "remove_git_credential", host))
    console.print(f"Git credential for {host} removed.")
