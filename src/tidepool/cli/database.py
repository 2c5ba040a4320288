"""``tidepool database copy --to URL``: move the platform's database, rows and all.

An operator moving from SQLite to PostgreSQL must not start over on an empty database: the
workspaces, their history and their jobs are copied, ids and instance names kept, by
``tidepool.store.copy``. This command adds what only the host knows: which database is the
current one (the settings), and that no ``serve`` is writing to it meanwhile (its lock).
"""

from __future__ import annotations

import contextlib
import os

import typer
from rich.table import Table

from tidepool.cli.output import console, friendly_errors
from tidepool.errors import ConflictError
from tidepool.host.service import serve_lock
from tidepool.settings import get_settings
from tidepool.sign_in_records import move_into_database
from tidepool.store.copy import checked_url, copy_database, masked

app = typer.Typer(help="The platform's database: copy it to another one (SQLite to PostgreSQL).")

#: How long to wait for a by-hand command (``tidepool vm ...``) that holds the lock to end; a
#: running ``serve`` is refused at once.
BY_HAND_WAIT_SECONDS = 30.0


@app.command("copy")
@friendly_errors
def copy_command(
    to: str = typer.Option(
        ..., "--to", help="The new, empty database: postgresql://USER:PASSWORD@HOST/DATABASE."
    ),
) -> None:
    """Copy every workspace, its events and its jobs from the current database into a new,
    empty one (same ids, same instances), then check the row counts. Stop the platform first
    (`tidepool service stop`): a running serve would keep writing to the old one."""
    settings = get_settings()
    target = checked_url(to, "--to URL")
    source = settings.resolved_database_url
    os.umask(0o077)  # a new SQLite file, and its journal, are root's alone like the old one
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(serve_lock(settings.data_dir, wait=BY_HAND_WAIT_SECONDS))
        except ConflictError as error:
            raise ConflictError(
                f"{error} Run `tidepool service stop` first: a running serve would keep "
                "writing to the database being copied. Nothing was copied."
            ) from None
        with console.status(f"Copying {masked(source)} to {masked(target)}..."):
            report = copy_database(source, target)
            # Users, sessions, tokens...: files on SQLite, rows on PostgreSQL (none is lost).
            moved = move_into_database(settings, target)
    console.print(f"Copied {report.source} to {report.target}.", highlight=False, markup=False)
    table = Table(title="rows copied", header_style="bold")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in report.rows.items():
        table.add_row(name, str(rows))
    console.print(table)
    if moved:
        console.print(
            f"Sign-in records moved into the database: {', '.join(moved)} (each file renamed "
            "*.moved-to-database).",
            highlight=False,
            markup=False,
        )
    console.print(
        "Every table holds as many rows as in the source. Next: set "
        f"TIDEPOOL_DATABASE_URL (or database_url) to {report.target} and run "
        "`tidepool service start`.",
        highlight=False,
        markup=False,
    )
