"""The ``tidepool`` command: one Typer app, one sub-app per area."""

from __future__ import annotations

import typer

from tidepool.cli import host, image

app = typer.Typer(
    name="tidepool",
    help="Self-hosted cloud development workspaces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(host.app, name="host")
app.add_typer(image.app, name="image")


def main() -> None:
    app()
