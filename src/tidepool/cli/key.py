"""``tidepool key ...``: the SSH public keys that let a user into their workspaces over SSH.

The same ``/api/keys`` as the web app: over the API's socket on the host (root acts as the
local owner, or as ``--user``), or through Caddy with ``--url`` and ``TIDEPOOL_TOKEN`` from
anywhere. ``add`` takes the first of the usual ``~/.ssh/*.pub`` files when given none, so
``tidepool key add`` is all most people type.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from tidepool.cli.output import console, fail, friendly_errors, run_async
from tidepool.cli.workspace import TOKEN_VARIABLE
from tidepool.client import JSON, ApiClient
from tidepool.settings import get_settings

app = typer.Typer(help="Add, list and remove your SSH public keys.")

#: Where ``add`` looks when given no file, in this order (ssh-keygen's default names).
USUAL_KEYS = (
    "id_ed25519.pub",
    "id_ecdsa.pub",
    "id_ed25519_sk.pub",
    "id_ecdsa_sk.pub",
    "id_rsa.pub",
)
UrlOption = typer.Option("", "--url", help="A Tidepool's URL (with TIDEPOOL_TOKEN set).")
UserOption = typer.Option("", "--user", help="As this user (root on the host only).")


def client_for(url: str, user: str) -> ApiClient:
    """The API as the caller: root on the host (as ``user`` if given), or ``url`` with a token."""
    if url and user:
        fail("--user is for root on the host; with --url the token says who you are.")
    token = os.environ.get(TOKEN_VARIABLE, "")
    return ApiClient.connect(socket=get_settings().api_socket, url=url, token=token, user=user)


async def call_api(url: str, user: str, call: str, *args: object) -> JSON:
    """``ApiClient.<call>(*args)`` on ``client_for(url, user)``, closed afterwards."""
    client = client_for(url, user)
    try:
        result: JSON = await getattr(client, call)(*args) or {}
        return result
    finally:
        await client.aclose()


def _read_key(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    if path:
        chosen = Path(path).expanduser()
    else:
        found = [Path.home() / ".ssh" / name for name in USUAL_KEYS]
        chosen = next((p for p in found if p.is_file()), found[0])
        if not chosen.is_file():
            fail("No public key in ~/.ssh: make one with `ssh-keygen -t ed25519`, or name a file.")
    if chosen.suffix != ".pub" and chosen.with_name(chosen.name + ".pub").is_file():
        fail(f"{chosen} looks like a private key: give its public half, {chosen}.pub.")
    try:
        return chosen.read_text()
    except (OSError, UnicodeDecodeError) as error:
        fail(f"Cannot read {chosen}: {error}")


@app.command("add")
@friendly_errors
def add(
    path: str = typer.Argument("", help="A .pub file, or - for standard input (default: ~/.ssh)."),
    name: str = typer.Option("", "--name", help="What to call it (default: its comment)."),
    url: str = UrlOption,
    user: str = UserOption,
) -> None:
    """Add a public key: your workspaces accept it within seconds."""
    key = run_async(call_api(url, user, "add_key", _read_key(path), name))
    console.print(f"Added key [bold]{key['id']}[/] ({key['type']} {key['fingerprint']}).")


@app.command("list")
@friendly_errors
def list_(
    url: str = UrlOption,
    user: str = UserOption,
    as_json: bool = typer.Option(False, "--json", help="Print the keys as JSON."),
) -> None:
    """List your public keys."""
    keys = run_async(call_api(url, user, "keys"))["items"]
    if as_json:
        print(json.dumps(keys, indent=2))
        return
    if not keys:
        fail("No SSH keys yet: add one with `tidepool key add`.", code=0)
    table = Table("name", "type", "added")
    table.add_column("fingerprint", no_wrap=True)
    table.add_column("id", no_wrap=True, min_width=12)
    for key in keys:
        added = key["created"][:16].replace("T", " ")
        table.add_row(key["name"], key["type"], added, key["fingerprint"], key["id"])
    console.print(table)


@app.command("remove")
@friendly_errors
def remove(key_id: str, url: str = UrlOption, user: str = UserOption) -> None:
    """Remove a public key by its id: your running workspaces stop accepting it."""
    run_async(call_api(url, user, "remove_key", key_id))
    console.print(f"Removed key [bold]{key_id}[/].")
