"""Reading a container's processes and the host's connections from a ``/proc`` tree (a fake
one here, with the kernel's formats; the real one is read by the idle-stop integration test)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tidepool.adapters.incus import proc
from tidepool.adapters.incus.activity import IncusActivityProbe
from tidepool.adapters.incus.client import LOCAL, IncusClient
from tidepool.ports.activity import Watched

TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode\n"
)


def tcp_line(remote: str, state: str, inode: int) -> str:
    return (
        f"   0: 0100007F:9C40 {remote} {state} 00000000:00000000 00:00000000 00000000"
        f"     0        0 {inode} 1 0 20 4 30 10 -1\n"
    )


def add_process(
    root: Path, pid: int, ns: str, ppid: int, uid: int, argv: list[str], name: str = "x"
) -> None:
    base = root / str(pid)
    (base / "ns").mkdir(parents=True)
    os.symlink(f"pid:[{ns}]", base / "ns" / "pid")
    (base / "status").write_text(
        f"Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t{ppid}\n"
        f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
    )
    (base / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_a_containers_processes_are_those_of_its_init_namespace(tmp_path: Path) -> None:
    add_process(tmp_path, 1, "host", 0, 0, ["/sbin/init"])
    add_process(tmp_path, 500, "alpha", 1, 1000000, ["/sbin/init"])
    add_process(tmp_path, 501, "alpha", 500, 1001000, ["sleep", "600"], "sleep")
    add_process(tmp_path, 600, "beta", 1, 1000000, ["/sbin/init"])
    add_process(tmp_path, 700, "host", 1, 0, ["bash"])
    (tmp_path / "500" / "uid_map").write_text("         0    1000000 1000000000\n")
    (tmp_path / "600" / "uid_map").write_text("         0    1000000 1000000000\n")

    found = proc.processes_by_init({"ws-a": 500, "ws-b": 600, "ws-gone": 999}, tmp_path)

    assert sorted(found) == ["ws-a", "ws-b"]
    sleep = next(p for p in found["ws-a"] if p.pid == 501)
    assert (sleep.uid, sleep.ppid, sleep.argv, sleep.comm) == (1000, 500, ("sleep", "600"), "sleep")
    assert [p.pid for p in found["ws-b"]] == [600]


def test_connections_are_counted_by_port_and_by_owner(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    # 10.213.77.96 is 0A D5 4D 60; the kernel writes it little-endian: 604DD50A.
    (tmp_path / "net" / "tcp").write_text(
        TCP_HEADER
        + tcp_line("604DD50A:1F90", "01", 11)  # :8080, established, Caddy's
        + tcp_line("604DD50A:0BB8", "01", 12)  # :3000, established, Caddy's
        + tcp_line("604DD50A:08AE", "01", 13)  # :2222, established, someone else's
        + tcp_line("604DD50A:1F90", "06", 14)  # :8080, TIME_WAIT: closed
        + tcp_line("614DD50A:1F90", "01", 15)  # another address
    )
    (tmp_path / "42" / "fd").mkdir(parents=True)
    for fd, target in enumerate(["socket:[11]", "socket:[12]", "/dev/null", "pipe:[9]"]):
        os.symlink(target, tmp_path / "42" / "fd" / str(fd))

    connections = proc.established(tmp_path)
    caddy = proc.socket_inodes(42, tmp_path)

    assert caddy == {11, 12}
    assert proc.count_by_port(connections, "10.213.77.96", caddy) == {8080: 1, 3000: 1}
    assert proc.count_by_port(connections, "10.213.77.96") == {8080: 1, 3000: 1, 2222: 1}


def test_an_unreadable_proc_is_nothing_seen_not_an_error(tmp_path: Path) -> None:
    assert proc.established(tmp_path / "missing") == []
    assert proc.socket_inodes(1, tmp_path / "missing") == set()
    assert proc.processes_by_init({"ws": 1}, tmp_path / "missing") == {}


async def test_a_remote_incus_pids_are_never_read_on_this_host(tmp_path: Path) -> None:
    """A remote Incus reports its own host's process ids: the probe reads this host's
    ``/proc`` only for the local incusd, or it would take a stranger's processes for work."""
    add_process(tmp_path, 1, "host", 0, 0, ["/sbin/init"])
    add_process(tmp_path, 500, "alpha", 1, 1000000, ["/sbin/init"])
    add_process(tmp_path, 501, "alpha", 500, 1001000, ["sleep", "600"], "sleep")
    (tmp_path / "500" / "uid_map").write_text("         0    1000000 1000000000\n")
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(TCP_HEADER)
    instance = {"name": "ws-a", "type": "container", "state": {"pid": 500}}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/1.0/instances":
            return httpx.Response(200, json={"type": "sync", "metadata": [instance]})
        return httpx.Response(404, json={})

    watched = [Watched("ws-a", "10.0.0.2")]
    seen = {}
    for where in (LOCAL, "Incus at https://incus1:8443"):
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://i")
        probe = IncusActivityProbe(
            IncusClient(http, where=where), lambda: None, http=http, proc_root=tmp_path
        )
        seen[where] = (await probe.observe(watched))["ws-a"].processes
    local = seen[LOCAL]
    assert local is not None and [p.pid for p in local] == [500, 501]
    assert seen["Incus at https://incus1:8443"] is None
