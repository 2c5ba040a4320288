"""The ``tidepool`` command's entry point.

``ssh --stdio`` (ssh's ProxyCommand, started once per connection) goes to its own light path
before the full command line is imported (see ``tidepool.cli.stdio``); everything else to the
Typer app.
"""

from __future__ import annotations

import sys

from tidepool.cli.stdio import is_stdio


def main() -> None:
    if is_stdio(sys.argv[1:]):
        from tidepool.cli.stdio import main as stdio_main

        stdio_main(sys.argv[1:])
        return
    from tidepool.cli.app import main as app_main  # (the slow import, skipped above)

    app_main()
