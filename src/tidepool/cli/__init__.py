"""The ``tidepool`` command line (Typer + rich)."""
