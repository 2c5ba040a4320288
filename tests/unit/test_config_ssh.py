"""``tidepool config-ssh`` and the CLI's saved remote: the user's own ssh config is theirs.

The block is written once however often the command runs, every other line stays as it
was, ``--remove`` gives back the file as it was before, and the saved token is readable by
its owner alone (and refused if it is not).
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidepool.cli.app import app
from tidepool.cli.remote import Remote, check_url, config_file, load, save
from tidepool.cli.ssh import proxy_command, workspace_of
from tidepool.errors import InvalidInputError

MINE = "Host *\n    ServerAliveInterval 30\n\nHost work\n    HostName 192.0.2.7\n"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("TIDEPOOL_URL", raising=False)
    monkeypatch.delenv("TIDEPOOL_TOKEN", raising=False)
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(MINE)
    return tmp_path


def test_the_block_is_written_once_beside_the_users_hosts_and_removed_whole(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEPOOL_TOKEN", "tpt_000000000000_" + "a" * 43)
    config = home / ".ssh" / "config"
    for _ in range(2):
        done = CliRunner().invoke(app, ["config-ssh", "--url", "https://tidepool.example.test"])
        assert done.exit_code == 0, done.output
    text = config.read_text()
    assert text.startswith(MINE) and text.count("Host tidepool.*") == 1
    proxy = next(line for line in text.splitlines() if "ProxyCommand" in line)
    assert shlex.split(proxy.split("ProxyCommand ", 1)[1])[-3:] == ["ssh", "--stdio", "%h"]
    saved = config_file()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert load() == Remote("https://tidepool.example.test", "tpt_000000000000_" + "a" * 43)
    removed = CliRunner().invoke(app, ["config-ssh", "--remove"])
    assert removed.exit_code == 0 and config.read_text() == MINE


def test_bad_urls_and_open_token_files_are_refused(home: Path) -> None:
    for bad in ("ftp://x", "http://", "http://h/$(id)", "http://h x", "http://h/?a=b"):
        with pytest.raises(InvalidInputError):
            check_url(bad)
        done = CliRunner().invoke(app, ["config-ssh", "--url", bad])
        assert done.exit_code == 1 and "Not a Tidepool URL" in done.output
    assert (home / ".ssh" / "config").read_text() == MINE
    save(Remote("http://h:8080", "secret"))
    config_file().chmod(0o644)
    with pytest.raises(InvalidInputError, match="chmod 600"):
        load()


def test_a_host_name_is_a_workspace_name_and_the_proxy_command_quotes_it(home: Path) -> None:
    assert workspace_of("tidepool.alpha") == "alpha" == workspace_of("alpha")
    for bad in ("tidepool.Alpha", "tidepool.a;id", "../x", "tidepool."):
        with pytest.raises(InvalidInputError):
            workspace_of(bad)
    command = proxy_command(Remote("http://h:8080"), "%h")
    assert command[-4:] == ["--stdio", "--url", "http://h:8080", "%h"]
