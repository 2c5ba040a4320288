"""``python -m tidepool.cli``: the same as the ``tidepool`` command."""

from tidepool.cli.entry import main

main()
