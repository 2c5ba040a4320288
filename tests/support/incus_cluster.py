"""An Incus cluster on one machine, made the way Incus's own test suite makes one: several
``incusd``, each with its own ``INCUS_DIR`` in network and mount namespaces of its own, joined
with tokens. Every address is one made here:

- a host bridge ``tpclbr0`` (100.64.77.1/24) that every member's ``eth0`` joins, as members
  share a network in a real cluster; the members are 100.64.77.11, .12, ... They have no
  default route: nothing a member sends (incusd looks for image servers and instance types
  at start) leaves this machine, it fails at once instead;
- in each member, the routed bridge ``tpwbr0`` for its workspaces (10.77.N.1/24) with a
  ``dnsmasq`` of its own for their addresses, and a route to it on the host through the
  member: the network shape ``docs/scale-out.md`` describes, where the edge Caddy on the host
  reaches every workspace on every member by its own address.

Everything is undone on the way out: instances, daemons, namespaces, links, routes, files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST_BRIDGE = "tpclbr0"
HOST_ADDRESS = "100.64.77.1"
WORKSPACE_BRIDGE = "tpwbr0"
#: The mounts a member needs of its own: a sysfs for its network namespace, with the host's
#: cgroup tree moved under it, and a proc (as Incus's test suite does).
NAMESPACE_SCRIPT = """
set -e
mount --make-rslave /
mount --move /sys /mnt
mount -t sysfs sysfs /sys
mount --move /mnt/fs/cgroup /sys/fs/cgroup
umount -l /mnt
umount -l /proc
mount -t proc proc /proc
touch "$1"
exec sleep infinity
"""


def incusd_binary() -> str:
    for candidate in ("/usr/libexec/incus/incusd", "/opt/incus/bin/incusd"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("incusd")
    assert found, "no incusd on this machine: scripts/test installs Incus"
    return found


def run(*argv: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


@dataclass
class Member:
    """One ``incusd`` of the cluster, in its namespaces."""

    index: int
    directory: Path
    holder: subprocess.Popen[bytes] | None = None
    daemon: subprocess.Popen[bytes] | None = None
    dnsmasq: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def address(self) -> str:
        return f"100.64.77.{10 + self.index}"

    @property
    def subnet(self) -> str:
        return f"10.77.{self.index}.0/24"

    @property
    def incus_dir(self) -> Path:
        return self.directory / "incus"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "INCUS_DIR": str(self.incus_dir)}

    def incus(self, *argv: str, check: bool = True) -> str:
        """The ``incus`` CLI against this member's socket."""
        return run("incus", *argv, env=self.env, check=check)

    def enter(self, *argv: str) -> list[str]:
        assert self.holder is not None
        return ["nsenter", "-n", "-m", "-t", str(self.holder.pid), *argv]

    def inside(self, script: str) -> None:
        run(*self.enter("sh", "-ec", script))

    def spawn_daemon(self) -> None:
        """Start (or start again) this member's ``incusd`` and wait until it answers."""
        with (self.directory / "incusd.out").open("ab") as log:  # the daemon keeps its copy
            self.daemon = subprocess.Popen(
                self.enter(
                    incusd_binary(),
                    "--group",
                    "root",
                    "--logfile",
                    str(self.directory / "incusd.log"),
                ),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.incus("admin", "waitready", "--timeout", "60")

    def kill_daemon(self) -> None:
        """SIGKILL this member's ``incusd``, as a crash or a pulled cable does to the cluster:
        its containers keep running, the others stop hearing from it."""
        assert self.daemon is not None
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()


@dataclass
class IncusCluster:
    directory: Path
    members: list[Member] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://{self.members[0].address}:8443"

    @property
    def first(self) -> Member:
        return self.members[0]


def _start_member(member: Member) -> None:
    member.incus_dir.mkdir(parents=True)
    # A container's root (an unprivileged uid) must pass through every directory above its
    # files: lxc refuses to start it otherwise ("Please grant it x access").
    for directory in (member.incus_dir, *member.incus_dir.parents):
        if directory == Path("/tmp"):
            break
        directory.chmod(0o755)
    ready = member.directory / "namespaces-ready"
    member.holder = subprocess.Popen(
        ["unshare", "-m", "-n", "/bin/sh", "-c", NAMESPACE_SCRIPT, "sh", str(ready)]
    )
    _wait_for(ready.exists, f"{member.name}'s namespaces")
    outer, inner = f"tpcl{member.index}a", f"tpcl{member.index}b"
    run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
    run("ip", "link", "set", inner, "netns", str(member.holder.pid))
    run("ip", "link", "set", outer, "master", HOST_BRIDGE, "up")
    gateway = f"10.77.{member.index}.1"
    member.inside(
        f"ip link set lo up; ip link set {inner} name eth0; ip link set eth0 up;"
        f"ip addr add {member.address}/24 dev eth0;"
        f"ip link add {WORKSPACE_BRIDGE} type bridge; ip link set {WORKSPACE_BRIDGE} up;"
        f"ip addr add {gateway}/24 dev {WORKSPACE_BRIDGE};"
        "echo 1 > /proc/sys/net/ipv4/ip_forward"
    )
    run("ip", "route", "add", member.subnet, "via", member.address)
    member.dnsmasq = subprocess.Popen(
        member.enter(
            "dnsmasq",
            "--keep-in-foreground",
            "--strict-order",
            "--bind-interfaces",
            f"--interface={WORKSPACE_BRIDGE}",
            "--except-interface=lo",
            f"--listen-address={gateway}",
            "--port=0",
            "--no-resolv",
            "--no-hosts",
            f"--dhcp-range=10.77.{member.index}.10,10.77.{member.index}.250,1h",
            f"--dhcp-leasefile={member.directory / 'leases'}",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    member.spawn_daemon()


def _bootstrap(member: Member) -> None:
    preseed = f"""
config:
  core.https_address: {member.address}:8443
  images.auto_update_interval: 0
storage_pools:
- name: data
  driver: dir
cluster:
  server_name: {member.name}
  enabled: true
"""
    run_with_input(["incus", "admin", "init", "--preseed"], preseed, member.env)
    # A member gone is seen as offline after 11 s, not the default 20: tests wait less.
    member.incus("config", "set", "cluster.offline_threshold", "11")


def _join(member: Member, first: Member) -> None:
    token = first.incus("cluster", "add", member.name, "--quiet")
    certificate = (first.incus_dir / "cluster.crt").read_text().replace("\n", "\\n")
    preseed = f"""
cluster:
  enabled: true
  server_name: {member.name}
  server_address: {member.address}:8443
  cluster_address: {first.address}:8443
  cluster_certificate: "{certificate}"
  cluster_token: {token}
  member_config:
  - entity: storage-pool
    name: data
    key: source
    value: ""
"""
    run_with_input(["incus", "admin", "init", "--preseed"], preseed, member.env)


def run_with_input(argv: list[str], text: str, env: dict[str, str]) -> None:
    done = subprocess.run(argv, input=text, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr.strip()}"


def _wait_for(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} never came"
        time.sleep(0.05)


def _stop_member(member: Member) -> None:
    """Undo one member; each step goes on if an earlier one failed."""
    if member.daemon is not None and member.daemon.poll() is None:
        with contextlib.suppress(AssertionError):
            for project in member.incus("project", "list", "-f", "csv", check=False).splitlines():
                name = project.split(",")[0].removesuffix(" (current)")
                for instance in member.incus(
                    "list", "--project", name, "-f", "csv", "-c", "n", check=False
                ).splitlines():
                    member.incus("delete", "-f", instance, "--project", name, check=False)
        try:
            member.incus("admin", "shutdown", "--timeout", "30", check=False)
            member.daemon.wait(timeout=40)
        except subprocess.TimeoutExpired:
            member.daemon.kill()
            member.daemon.wait()
    for process in (member.dnsmasq, member.holder):
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
    run("ip", "route", "del", member.subnet, check=False)
    run("ip", "link", "del", f"tpcl{member.index}a", check=False)
    mounts = run("findmnt", "-rn", "-o", "TARGET", check=False).splitlines()
    for target in sorted((m for m in mounts if m.startswith(str(member.directory))), reverse=True):
        run("umount", "-l", target, check=False)
    shutil.rmtree(member.directory, ignore_errors=True)


@contextlib.contextmanager
def incus_cluster(directory: Path, size: int = 2) -> Iterator[IncusCluster]:
    """A cluster of ``size`` members, ``node1`` first; all of it removed afterwards."""
    assert not Path(f"/sys/class/net/{HOST_BRIDGE}").exists(), f"{HOST_BRIDGE} is in use"
    cluster = IncusCluster(directory)
    run("ip", "link", "add", HOST_BRIDGE, "type", "bridge")
    try:
        run("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", HOST_BRIDGE)
        run("ip", "link", "set", HOST_BRIDGE, "up")
        for index in range(1, size + 1):
            member = Member(index, directory / f"node{index}")
            cluster.members.append(member)
            _start_member(member)
            if index == 1:
                _bootstrap(member)
            else:
                _join(member, cluster.first)
        yield cluster
    finally:
        for member in reversed(cluster.members):
            _stop_member(member)
        run("ip", "link", "del", HOST_BRIDGE, check=False)
