"""Two edges of one installation on one database: each ``serve`` with its own data directory
and Caddy, both carrying the first's ``installation-id`` (as docs/scale-out.md asks of every
edge), stopped and cleaned up after."""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from support import leftovers
from support.ports import free_port
from support.serve import ServeProcess
from tidepool.installation import FILE_NAME, installation_id


@contextlib.contextmanager
def two_edges(
    tmp_path: Path,
    database_url: str,
    prefix: str,
    env: Mapping[str, str],
    *,
    first_command_prefix: Sequence[str] = (),
) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    """Two ``serve`` not yet started, in ``tmp_path/first`` and ``tmp_path/second``; the
    first run under ``first_command_prefix`` (another host's name, for example)."""
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    installation_id(first_dir)
    second_dir.mkdir()
    shutil.copy(first_dir / FILE_NAME, second_dir / FILE_NAME)
    first = ServeProcess(
        first_dir,
        free_port(),
        database_url,
        prefix,
        dict(env),
        command_prefix=list(first_command_prefix),
    )
    second = ServeProcess(second_dir, free_port(), database_url, prefix, dict(env))
    try:
        yield first, second
    finally:
        for serve in (first, second):
            if serve.process and serve.process.poll() is None:
                serve.stop()
            serve.signal_caddy(signal.SIGTERM)
        leftovers.delete_made_by([first_dir])
