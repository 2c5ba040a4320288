"""``tidepool audit``: read the audit log (root on the host; admins elsewhere use
``GET /api/audit``).

It reads ``DATA_DIR/audit.log`` directly, as ``tidepool user`` and ``tidepool token`` change
their files directly: it works while the platform is down, which is when one may most want it.
"""

from __future__ import annotations

import datetime as dt
import json

import typer
from rich.table import Table

from tidepool.auth.audit import audit_log_in
from tidepool.cli.output import console, fail, friendly_errors
from tidepool.domain.audit import MAX_AUDIT_LIMIT, AuditQuery
from tidepool.errors import InvalidInputError
from tidepool.settings import get_settings


def _since(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidInputError(
            f"--since {value!r} is not a time: use ISO 8601, e.g. 2026-12-01T09:00 (UTC)."
        ) from error
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


@friendly_errors
def audit_command(
    since: str = typer.Option("", "--since", help="Entries at or after this time (ISO 8601)."),
    actor: str = typer.Option("", "--actor", help="Only this user's (or `local`: the host)."),
    action: str = typer.Option(
        "", "--action", help="One action (workspace.stop) or a family (workspace, token, auth)."
    ),
    limit: int = typer.Option(
        100, "--limit", min=1, max=MAX_AUDIT_LIMIT, help="The newest this many."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object a line, for scripts."),
) -> None:
    """Show who signed in, changed users or tokens, and acted on workspaces (or tried to)."""
    query = AuditQuery(_since(since), actor or None, action or None, limit)
    entries, truncated = audit_log_in(get_settings().data_dir).entries(query)
    if as_json:
        for e in entries:
            record = {
                "at": e.at.isoformat(),
                "action": e.action,
                "actor": e.actor,
                "token": e.token,
                "address": e.address,
                "target": e.target,
                "outcome": e.outcome.value,
                "detail": e.detail,
            }
            print(json.dumps(record))
        return
    if not entries:
        fail("Nothing in the audit log matches.", code=0)
    table = Table(
        "time (UTC)", "actor", "token", "address", "action", "target", "outcome", "detail"
    )
    for e in entries:
        table.add_row(
            e.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.token,
            e.address,
            e.action,
            e.target,
            e.outcome.value,
            e.detail,
        )
    console.print(table)
    if truncated:
        console.print("[dim]Older entries left out: raise --limit or use --since.[/]")
