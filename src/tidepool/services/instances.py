"""Starting one workspace instance and making sure code-server runs in it.

These are the building blocks of the vertical slice's commands (``vm start``, ``vm setup``)
and of the control plane's reconcile steps.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tidepool.domain.names import validate_workspace_name
from tidepool.errors import NotFoundError, RuntimeOperationError, TidepoolError
from tidepool.ports import InstanceSpec, InstanceStatus, Runtime
from tidepool.services.ide import wait_for_ide

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(slots=True)
class StartResult:
    name: str
    address: str
    created: bool
    #: Seconds spent in each phase: "created", "booted" (IPv4), ...
    phases: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceDefaults:
    image: str
    cpus: int
    memory_mib: int


async def start_instance(
    runtime: Runtime,
    name: str,
    defaults: InstanceDefaults,
    *,
    boot_timeout: float = 120.0,
    report: Report = _quiet,
) -> StartResult:
    """Create the instance if it does not exist, start it, and wait for its IPv4 address.

    If this call created the instance and a later step fails, the instance is deleted again:
    a failed command leaves nothing half-made behind.
    """
    name = validate_workspace_name(name)
    phases: dict[str, float] = {}
    started = time.monotonic()
    created = False
    try:
        await runtime.state(name)
    except NotFoundError:
        report(f"creating instance {name} from {defaults.image}")
        await runtime.create(
            InstanceSpec(
                name=name,
                image=defaults.image,
                cpus=defaults.cpus,
                memory_mib=defaults.memory_mib,
                environment={"WORKSPACE_NAME": name},
            )
        )
        created = True
        phases["created"] = time.monotonic() - started
    try:
        report(f"starting instance {name}")
        await runtime.start(name)
        address = await runtime.wait_for_ipv4(name, timeout=boot_timeout)
        phases["booted"] = time.monotonic() - started
    except TidepoolError:
        if created:
            with contextlib.suppress(TidepoolError):
                await runtime.delete(name)
        raise
    return StartResult(name=name, address=address, created=created, phases=phases)


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
    name: str,
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
    name = validate_workspace_name(name)
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


async def _provision(runtime: Runtime, name: str, plan: SetupPlan, report: Report) -> None:
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
    name: str,
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
