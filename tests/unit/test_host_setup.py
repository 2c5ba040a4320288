import errno
import os
from pathlib import Path

import pytest

from tidepool.host import apt, daemons, sysctl


def test_mirror_is_read_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
        "\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
    )
    assert apt.debian_mirror(tmp_path, tmp_path / "none.list") == "http://mirror.example/debian"


def test_mirror_is_read_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://local.example/debian/ bookworm main\n"
    )
    assert apt.debian_mirror(tmp_path, tmp_path / "sources.list") == "http://local.example/debian"


def test_limits_are_raised_once_and_never_lowered(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for key in sysctl.LIMITS:
        path = proc / key.replace(".", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("128\n")
    high = proc / "vm/max_map_count"
    high.write_text("999999999\n")
    persist = tmp_path / "60-tidepool.conf"

    first = sysctl.ensure_limits(proc, persist)
    second = sysctl.ensure_limits(proc, persist)

    assert first.changed and not second.changed
    assert (proc / "fs/inotify/max_user_instances").read_text().strip() == "8192"
    assert high.read_text().strip() == "999999999"
    assert "fs.inotify.max_user_instances = 8192" in persist.read_text()


def test_a_mount_whose_daemon_died_is_stale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dead = tmp_path / "lxcfs"

    def not_connected(self: Path, **_: object) -> os.stat_result:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected", str(self))

    assert not daemons.mount_is_stale(tmp_path)
    assert not daemons.mount_is_stale(tmp_path / "missing")
    monkeypatch.setattr(Path, "stat", not_connected)
    assert daemons.mount_is_stale(dead)
