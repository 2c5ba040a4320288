"""Making sure code-server runs in a workspace's instance (``tidepool vm setup``).

An instance made from the full image has it already; one made from the plain base image (the
fast path) is provisioned here with the same script the image build runs. Creating and
starting instances is the reconciler's alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tidepool.domain.names import InstanceName
from tidepool.errors import RuntimeOperationError
from tidepool.ports import InstanceStatus, Runtime
from tidepool.services.ide import wait_for_ide

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class SetupPlan:
    """What ``setup_instance`` pushes into a plain instance to provision it."""

    script: bytes
    environment: dict[str, str]
    extra_ca: tuple[tuple[str, bytes], ...] = ()
    #: A tarball of /opt/tidepool (node, npm, code-server) to unpack, if the host has one.
    bundle_tarball: Path | None = None


CODE_SERVER_ACTIVE = ["systemctl", "is-active", "--quiet", "code-server"]


async def setup_instance(
    runtime: Runtime,
    http: httpx.AsyncClient,
    name: InstanceName,
    plan: Callable[[], SetupPlan],
    *,
    ide_timeout: float = 120.0,
    report: Report = _quiet,
) -> str:
    """Make sure code-server is installed, configured and healthy in a running instance.

    An instance made from the full image passes the first check and nothing is changed;
    one made from a plain base image is provisioned with the shared script (the fast path).
    ``plan`` is called only when provisioning is needed (it may pack a large tarball).
    Returns the instance's address.
    """
    state = await runtime.state(name)
    if state.status is not InstanceStatus.RUNNING or not state.ipv4:
        raise RuntimeOperationError(f"Instance {name!r} is not running; `tidepool vm start` it.")
    if (await runtime.exec(name, CODE_SERVER_ACTIVE)).ok:
        report("code-server is already installed and running")
    else:
        await _provision(runtime, name, plan(), report)
    report("waiting for code-server to answer")
    await wait_for_ide(http, state.ipv4, timeout=ide_timeout)
    return state.ipv4


async def _provision(runtime: Runtime, name: InstanceName, plan: SetupPlan, report: Report) -> None:
    for file_name, data in plan.extra_ca:
        await runtime.push_file(name, f"/usr/local/share/ca-certificates/{file_name}", data)
    if plan.extra_ca:
        await _must(runtime, name, ["update-ca-certificates"], "trusting the host's CAs")
    environment = dict(plan.environment)
    if plan.bundle_tarball is not None:
        report("copying Node.js and code-server from the host's cache")
        await runtime.push_file(
            name, "/tmp/tidepool-bundle.tar.gz", plan.bundle_tarball.read_bytes()
        )
        await _must(runtime, name, ["mkdir", "-p", "/opt/tidepool"], "making /opt/tidepool")
        await _must(
            runtime,
            name,
            ["tar", "-xzf", "/tmp/tidepool-bundle.tar.gz", "-C", "/opt/tidepool"],
            "unpacking code-server",
        )
        await _must(runtime, name, ["rm", "/tmp/tidepool-bundle.tar.gz"], "cleaning up")
        environment["CODE_SERVER_INSTALL"] = "preinstalled"
    report("running the provisioning script (installs what is missing)")
    await runtime.push_file(
        name, "/usr/local/sbin/tidepool-workspace-setup", plan.script, mode=0o755
    )
    await _must(
        runtime,
        name,
        ["/usr/local/sbin/tidepool-workspace-setup"],
        "provisioning",
        env=environment,
        timeout=1800,
    )


async def _must(
    runtime: Runtime,
    name: InstanceName,
    argv: list[str],
    what: str,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
) -> None:
    result = await runtime.exec(name, argv, env=env, timeout=timeout)
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-10:]
        raise RuntimeOperationError(
            f"{what} failed in {name} (exit {result.exit_code}):\n" + "\n".join(tail)
        )
