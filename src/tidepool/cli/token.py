"""``tidepool token ...``: API tokens for scripts and the CLI (``auth = "forward_auth"``).

A script sends ``Authorization: Bearer TOKEN``; the ``tidepool workspace`` commands read it
from ``TIDEPOOL_TOKEN`` when they talk to a ``--url``. The token is printed once and stored
only as a hash: lost tokens are revoked and replaced, never shown again.

These commands act as root on the host, through the same ``TokenAdmin`` as the API (so the
same rules: an ``admin`` token only for an admin user), and each change is in the audit log.
Signed-in users manage their own tokens in the web app or through ``/api/tokens``.
"""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from tidepool import bootstrap
from tidepool.auth.audit import audit_log_in
from tidepool.auth.token_admin import TokenAdmin
from tidepool.cli.output import console, fail, friendly_errors, run_async
from tidepool.domain.identity import HOST
from tidepool.errors import ProxyError
from tidepool.settings import get_settings
from tidepool.sign_in_records import tokens, users

app = typer.Typer(help="Create, list and revoke API tokens.")


def _tokens() -> TokenAdmin:
    settings = get_settings()
    return TokenAdmin(
        tokens(settings),
        users(settings),
        audit_log_in(settings.data_dir),
    )


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
    scope: list[str] = typer.Option(  # noqa: B008 (Typer's way of declaring a repeatable option)
        [],
        "--scope",
        help="read, workspaces, ssh or admin (admin users only); repeat for several. "
        "Default: read and workspaces.",
    ),
    workspace: list[str] = typer.Option(  # noqa: B008
        [], "--workspace", help="Limit the token to this workspace; repeat for several."
    ),
) -> None:
    """Create a token that acts as USER; it is printed once, here, and never again."""
    if days < 0:
        fail("--days must be a positive number of days.")
    secret, token = run_async(
        _tokens().create(
            HOST,
            user=user,
            label=label,
            days=days or None,
            scopes=scope or None,
            workspaces=workspace or None,
        )
    )
    limit = f", workspaces: {', '.join(sorted(token.workspaces))}" if token.workspaces else ""
    console.print(
        f"Token [bold]{token.id}[/] for {token.user} (scopes: "
        f"{', '.join(sorted(token.effective_scopes))}{limit}; expires: {_when(token.expires)}):"
    )
    # Plain print: the token must come out whole, even in a narrow terminal.
    print(secret)
    console.print("[yellow]Copy it now:[/] Tidepool keeps only its hash.")
    if get_settings().auth != "forward_auth":
        console.print('[yellow]Note:[/] tokens are checked only with auth = "forward_auth".')


@app.command("list")
@friendly_errors
def list_(user: str = typer.Option("", "--user", help="Only this user's tokens.")) -> None:
    """List tokens (their ids, never the tokens)."""
    tokens = _tokens().list(HOST, user or None)
    if not tokens:
        fail("No tokens yet: create one with `tidepool token create USER`.", code=0)
    # Oldest first; the id never wraps (it is what `revoke` takes).
    table = Table("user", "label", "scopes", "workspaces", "expires", "state")
    table.add_column("id", no_wrap=True, min_width=12)
    for t in tokens:
        table.add_row(
            t.user,
            t.label,
            "all of the user's" if t.scopes is None else ", ".join(sorted(t.scopes)),
            ", ".join(sorted(t.workspaces)) if t.workspaces is not None else "any",
            _when(t.expires),
            "revoked" if t.revoked else "active",
            t.id,
        )
    console.print(table)


@app.command("revoke")
@friendly_errors
def revoke(token_id: str) -> None:
    """Revoke a token by its id; requests that present it are refused from now on."""
    token = run_async(_tokens().revoke(HOST, token_id))
    run_async(_forget_in_caddy(token.id))
    console.print(f"Token [bold]{token.id}[/] of {token.user} revoked.")


async def _forget_in_caddy(token_id: str) -> None:
    """Make Caddy's token map forget it now, not at ``serve``'s next sweep (2 s), nor never
    while ``serve`` is down and Caddy serves on. No Caddy running: nothing to forget."""
    settings = get_settings()
    if not settings.caddy_admin_socket.exists():
        return
    admin = bootstrap.caddy_admin(settings)
    try:
        await bootstrap.token_cache(admin).forget(token_id)
    except ProxyError as error:
        console.print(f"[yellow]Caddy was not told at once ({error}); serve's sweep will.[/]")
    finally:
        await admin.aclose()
