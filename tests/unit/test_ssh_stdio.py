"""``tidepool ssh --stdio``: its arguments, its errors, and its light start (ssh starts it once
per connection, so it must not import the whole command line)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tidepool.cli.stdio import is_stdio, parse
from tidepool.errors import InvalidInputError


def test_the_host_and_the_url_are_read_in_either_spelling() -> None:
    assert parse(["tidepool.alpha"]) == ("tidepool.alpha", "")
    assert parse(["--url", "https://dev.example.com", "alpha"]) == (
        "alpha",
        "https://dev.example.com",
    )
    assert parse(["alpha", "--url=http://localhost:8080"]) == ("alpha", "http://localhost:8080")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "Name one workspace"),
        (["a", "b"], "Name one workspace"),
        (["--url"], "--url needs a value"),
        (["--verbose", "alpha"], "Unknown option --verbose"),
        (["alpha", "--", "ls"], "give the command to `tidepool ssh NAME -- ...`"),
    ],
)
def test_bad_arguments_are_a_clear_error(argv: list[str], says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        parse(argv)


def test_only_ssh_stdio_takes_the_light_path() -> None:
    assert is_stdio(["ssh", "--stdio", "alpha"])
    assert not is_stdio(["ssh", "alpha", "--", "--stdio"])
    assert not is_stdio(["workspace", "list"])


def run_entry(*argv: str) -> subprocess.CompletedProcess[str]:
    """The ``tidepool`` entry point with ``argv``; prints which heavy modules it imported."""
    program = (
        "import sys\n"
        f"sys.argv = ['tidepool', *{list(argv)!r}]\n"
        "from tidepool.cli.entry import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print(sorted(m for m in ('typer', 'sqlalchemy', 'tidepool.cli.app')"
        " if m in sys.modules))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def test_the_proxy_command_imports_neither_typer_nor_the_app() -> None:
    done = run_entry("ssh", "--stdio", "--url", "http://localhost:9", "Not_A_Name!")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    assert done.stdout.strip() == "[]"
    assert "Invalid workspace name" in done.stderr


def test_every_other_command_still_reaches_the_app() -> None:
    done = run_entry("ssh", "--help")
    assert "--stdio" in done.stdout
    assert "'tidepool.cli.app'" in done.stdout
