"""scp through the SSH tunnel against plain ssh to the instance's own address, side by side.

Prints JSON. A platform of its own (sign-in on, ``tidepool service``) runs one workspace; its
user has a key and a token with the ``ssh`` scope. Two paths to the same workspace's files:

- ``tunnel``: ``scp`` with ``tidepool ssh --stdio`` as its ProxyCommand, through Caddy's
  WebSocket and the workspace's bridge to its sshd (what a developer uses);
- ``bridge``: the same without Caddy, as root on the host runs it (the control plane asked
  over its socket, then the WebSocket straight to the workspace's bridge): what Caddy costs;
- ``plain``: ``scp`` straight to a second sshd the bench starts in the same instance on its
  bridge address (the floor: no proxy at all; only root on the host can reach it).

Throughput is the bytes' path, not ssh's start: each path opens one connection first (ssh's
``ControlMaster``), and each round copies a file up and down over each path's connection,
alternating; the medians of the MB/s are compared, and of the host's CPU time per GiB
moved on each path. What a new connection costs (ssh, the ProxyCommand's start, the
tunnel's authorization, the key exchange) is measured on its own: ``ssh HOST true`` on a
fresh connection, per path. Everything stays on loopback and the
instance the bench made.

    .venv/bin/python bench/ssh.py [--rounds 5] [--mib 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from churn import USER, platform_env, wait_running  # noqa: E402
from support.cli import tidepool  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.users import write_users  # noqa: E402
from tidepool import bootstrap  # noqa: E402
from tidepool.client import ApiClient  # noqa: E402
from tidepool.settings import Settings  # noqa: E402

NAME = "ssh-bench"
PLAIN_PORT = 2200
GOAL = 0.8
PASSWORD = "ssh-bench-password"  # noqa: S105 (a throwaway user of a throwaway platform)
#: The floor's sshd: the workspace's own settings, but on its bridge address. A config of its
#: own: the workspace's keeps every sshd on loopback, whatever the command line says.
PLAIN_CONFIG = "\n".join(
    [
        f"Port {PLAIN_PORT}",
        "ListenAddress 0.0.0.0",
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "AllowUsers dev",
        # As Debian's own sshd: PAM decides (dev's password is locked, not its logins).
        "UsePAM yes",
        "Subsystem sftp /usr/lib/openssh/sftp-server",
        "PidFile none",
    ]
)
#: The workspace's sshd makes its host keys as it first starts: wait for them (up to 30 s).
PLAIN_SSHD = (
    "for _ in $(seq 60); do [ -s /etc/ssh/ssh_host_ed25519_key.pub ] && break; sleep 0.5; done; "
    f"printf '%s\\n' '{PLAIN_CONFIG}' > /run/bench_sshd && /usr/sbin/sshd -f /run/bench_sshd"
)


def new_key(directory: Path) -> tuple[Path, str]:
    """A key pair for the bench's user: the private key's path and the public line."""
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key, Path(f"{key}.pub").read_text()


def copies(argv: list[str], source: str, target: str, env: dict[str, str]) -> bool:
    return subprocess.run([*argv, source, target], capture_output=True, env=env).returncode == 0


def seconds(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.monotonic() - started


def busy_seconds() -> float:
    """CPU time every core of the host spent busy so far (``/proc/stat``: all but idle and
    iowait), counting every process on a path: ssh, the relays, Caddy, the bridge, sshd."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def control(options: list[str], path: Path) -> list[str]:
    """``options`` that use (or, with ``-M``, open) the connection kept at ``path``."""
    return [*options, "-o", f"ControlPath={path}"]


async def measure(rounds: int, mib: int, tmp: Path) -> dict[str, Any]:
    data = tmp / "data"
    data.mkdir(mode=0o700)
    write_users(data / "users.json", {USER: PASSWORD})
    port = free_port()
    env = platform_env(data, port)
    if tidepool("service", "start", env=env).returncode != 0:
        raise RuntimeError("service start failed")
    made = tidepool("token", "create", USER, "--scope", "ssh", "--scope", "workspaces", env=env)
    token = next(line for line in made.stdout.split() if line.startswith("tpt_"))
    key, public_key = new_key(tmp)
    api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
    )
    host = ApiClient.connect(socket=data / "api.sock", user=USER)
    runtime = bootstrap.build_runtime(Settings())
    try:
        (await api.post("/api/workspaces", json={"name": NAME})).raise_for_status()
        workspace = await wait_running(api, NAME)
        await host.add_key(public_key, "bench")
        instance = next(i.name for i in await runtime.list() if i.ipv4 == workspace["address"])
        started = await runtime.exec(instance, ["sh", "-c", PLAIN_SSHD])
        if started.exit_code != 0:
            raise RuntimeError(f"the plain sshd did not start: {started.stderr}")
        common = [
            "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-q",
        ]  # fmt: skip
        proxy = f"{sys.executable} -m tidepool.cli ssh --stdio --url http://127.0.0.1:{port} %h"
        on_host = f"{sys.executable} -m tidepool.cli ssh --stdio %h"
        paths = {  # (ssh's options, the host)
            "tunnel": ([*common, "-o", f"ProxyCommand={proxy}"], "dev@tidepool.ssh-bench"),
            "bridge": ([*common, "-o", f"ProxyCommand={on_host}"], "dev@tidepool.ssh-bench"),
            "plain": ([*common, "-o", f"Port={PLAIN_PORT}"], f"dev@{workspace['address']}"),
        }
        # (``bridge``: root on the host, straight to the workspace's bridge, without Caddy)
        scp_env = {**env, "TIDEPOOL_TOKEN": token}
        payload = tmp / "payload"
        payload.write_bytes(os.urandom(mib * 1024 * 1024))
        back = tmp / "back"
        tunnel = ["scp", *paths["tunnel"][0]]
        for _ in range(30):  # until the key reached the workspace
            if copies(tunnel, str(payload), f"{paths['tunnel'][1]}:/tmp/warm", scp_env):
                break
            await asyncio.sleep(1)
        for name, (options, target) in paths.items():
            master = ["ssh", *control(options, tmp / name), "-M", "-o", "ControlPersist=yes"]
            opened = [*master, "-fN", target]
            await asyncio.to_thread(subprocess.run, opened, check=True, env=scp_env)
        rates: dict[str, list[float]] = {f"{p}_{d}": [] for p in paths for d in ("up", "down")}
        connects: dict[str, list[float]] = {p: [] for p in paths}
        cpu: dict[str, list[float]] = {p: [] for p in paths}
        for _ in range(rounds):
            for name, (options, target) in paths.items():
                scp = ["scp", *control(options, tmp / name)]
                before = busy_seconds()
                up = seconds([*scp, str(payload), f"{target}:/tmp/payload"], scp_env)
                down = seconds([*scp, f"{target}:/tmp/payload", str(back)], scp_env)
                cpu[name].append((busy_seconds() - before) / (2 * mib) * 1024)
                if back.read_bytes() != payload.read_bytes():
                    raise RuntimeError(f"{name}: the copy came back different")
                rates[f"{name}_up"].append(mib / up)
                rates[f"{name}_down"].append(mib / down)
                connects[name].append(seconds(["ssh", *options, target, "true"], scp_env))
        for name, (options, target) in paths.items():
            stop = ["ssh", *control(options, tmp / name), "-O", "exit", target]
            await asyncio.to_thread(subprocess.run, stop, capture_output=True, env=scp_env)
    finally:
        await api.delete(f"/api/workspaces/{NAME}")
        for _ in range(120):
            if not (await api.get("/api/workspaces")).json()["items"]:
                break
            await asyncio.sleep(0.5)
        tidepool("service", "stop", env=env)
        for closing in (api, host, runtime):
            await closing.aclose()
    medians = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    cpu_medians = {k: round(statistics.median(v), 2) for k, v in cpu.items()}
    ratios = {d: round(medians[f"tunnel_{d}"] / medians[f"plain_{d}"], 3) for d in ("up", "down")}
    without_caddy = {
        d: round(medians[f"bridge_{d}"] / medians[f"plain_{d}"], 3) for d in ("up", "down")
    }
    return {
        "benchmark": "ssh",
        "rounds": rounds,
        "mib": mib,
        "median_mb_per_s": medians,
        "median_connect_s": {k: round(statistics.median(v), 3) for k, v in connects.items()},
        "samples": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "ratio_tunnel_vs_plain": ratios,
        "ratio_bridge_vs_plain": without_caddy,
        # The host's CPU per GiB moved (up and down), the whole path; what the tunnel adds
        # to plain ssh is its own cost, steadier than throughput on two shared cores.
        "median_cpu_s_per_gib": cpu_medians,
        "tunnel_cpu_vs_plain": round(cpu_medians["tunnel"] / cpu_medians["plain"], 3),
        "goal": GOAL,
        "goal_met": min(ratios.values()) >= GOAL,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidepool-ssh-") as tmp:
        print(json.dumps(asyncio.run(measure(args.rounds, args.mib, Path(tmp))), indent=2))


if __name__ == "__main__":
    main()
