"""``tidepool token ...``: API tokens for scripts and the CLI (``auth = "forward_auth"``).

A script sends ``Authorization: Bearer TOKEN``; the ``tidepool workspace`` commands read it
from ``TIDEPOOL_TOKEN`` when they talk to a ``--url``. The token is printed once and stored
only as a hash: lost tokens are revoked and replaced, never shown again.
"""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from tidepool.auth.tokens import TokenStore
from tidepool.auth.users import UserFile, validate_user_name
from tidepool.cli.output import console, fail, friendly_errors
from tidepool.errors import NotFoundError
from tidepool.settings import get_settings

app = typer.Typer(help="Create, list and revoke API tokens.")


def _tokens() -> TokenStore:
    return TokenStore(get_settings().tokens_file)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@app.command("create")
@friendly_errors
def create(
    user: str,
    label: str = typer.Option("", "--label", help="What the token is for (shown in the list)."),
    days: float = typer.Option(
        0, "--days", help="Expire after this many days (default: until revoked)."
    ),
) -> None:
    """Create a token that acts as USER; it is printed once, here, and never again."""
    validate_user_name(user)
    if user not in UserFile(get_settings().users_file).names():
        raise NotFoundError(f"There is no user {user!r}: add one with `tidepool user add`.")
    if days < 0:
        fail("--days must be a positive number of days.")
    secret, token = _tokens().create(user, label, days or None)
    console.print(f"Token [bold]{token.id}[/] for {user} (expires: {_when(token.expires)}):")
    # Plain print: the token must come out whole, even in a narrow terminal.
    print(secret)
    console.print("[yellow]Copy it now:[/] Tidepool keeps only its hash.")
    if get_settings().auth != "forward_auth":
        console.print('[yellow]Note:[/] tokens are checked only with auth = "forward_auth".')


@app.command("list")
@friendly_errors
def list_(user: str = typer.Option("", "--user", help="Only this user's tokens.")) -> None:
    """List tokens (their ids, never the tokens)."""
    tokens = _tokens().list(user or None)
    if not tokens:
        fail("No tokens yet: create one with `tidepool token create USER`.", code=0)
    table = Table("id", "user", "label", "created", "expires", "state")
    for t in tokens:
        table.add_row(
            t.id,
            t.user,
            t.label,
            _when(t.created),
            _when(t.expires),
            "revoked" if t.revoked else "active",
        )
    console.print(table)


@app.command("revoke")
@friendly_errors
def revoke(token_id: str) -> None:
    """Revoke a token by its id; requests that present it are refused from now on."""
    token = _tokens().revoke(token_id)
    console.print(f"Token [bold]{token.id}[/] of {token.user} revoked.")
