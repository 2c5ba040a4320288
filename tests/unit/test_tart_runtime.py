"""TartRuntime's failures, against the fake ``tart``: each becomes a typed error quoting Tart.

The happy paths are in ``tests/contract``; here are the ways Tart says no: an unknown VM, the
two-VM limit of a Mac, a VM that never gets an address, a command that hangs, output that
cannot be parsed, a missing ``tart``, images without the guest agent.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fakes.tart_env import FAKE_TART, FakeTart
from tidepool.adapters.tart.parse import parse_get, parse_ip, parse_list
from tidepool.adapters.tart.runtime import TartRuntime
from tidepool.errors import (
    ConflictError,
    NotFoundError,
    RuntimeOperationError,
    RuntimeUnavailableError,
    TimeoutExpiredError,
)
from tidepool.ports import InstanceSpec, InstanceStatus

IMAGE = "tidepool-alpine"


@pytest.fixture
def fake(tmp_path: Path) -> FakeTart:
    fake = FakeTart(tmp_path)
    fake.add_image(IMAGE)
    return fake


@pytest.fixture
async def runtime(fake: FakeTart) -> AsyncIterator[TartRuntime]:
    runtime = fake.runtime()
    yield runtime
    for instance in await runtime.list():
        await runtime.delete(instance.name)


async def make(runtime: TartRuntime, name: str, image: str = IMAGE, **spec: object) -> None:
    await runtime.create(InstanceSpec(name=name, image=image, **spec))  # type: ignore[arg-type]


@pytest.fixture
def foreign_vm(fake: FakeTart) -> Iterator[subprocess.Popen[bytes]]:
    """A VM the user runs outside Tidepool: it still counts against the Mac's limit."""
    fake.tart("clone", IMAGE, "users-own-vm")
    process = subprocess.Popen(
        [str(FAKE_TART), "run", "--no-graphics", "users-own-vm"],
        env={"PATH": "/usr/bin:/bin", **fake.env},
    )
    deadline = time.monotonic() + 10
    while fake.vm("users-own-vm").get("pid") != process.pid and time.monotonic() < deadline:
        time.sleep(0.05)
    yield process
    fake.tart("stop", "users-own-vm")
    process.wait(timeout=10)


@pytest.mark.parametrize("call", ["state", "start", "stop", "delete"])
async def test_an_unknown_vm_is_not_found_and_named(runtime: TartRuntime, call: str) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        await getattr(runtime, call)("ghost")


async def test_exec_in_an_unknown_vm_quotes_tart(runtime: TartRuntime) -> None:
    with pytest.raises(NotFoundError, match='the specified VM "tidepool-ws-ghost" does not exist'):
        await runtime.exec("ghost", ["true"])


async def test_a_missing_local_image_says_how_to_build_it(runtime: TartRuntime) -> None:
    with pytest.raises(NotFoundError, match="tidepool image build --runtime tart"):
        await make(runtime, "alice", image="no-such-image")
    assert await runtime.list() == []


async def test_an_oci_image_is_pulled_and_an_unknown_one_is_not_found(
    fake: FakeTart, runtime: TartRuntime
) -> None:
    fake.add_remote_image("ghcr.io/cirruslabs/ubuntu:latest")
    await make(runtime, "alice", image="ghcr.io/cirruslabs/ubuntu:latest", cpus=3, memory_mib=3072)
    vm = fake.vm("tidepool-ws-alice")
    assert (vm["source"], vm["cpu"], vm["memory"]) == ("ghcr.io/cirruslabs/ubuntu:latest", 3, 3072)
    with pytest.raises(NotFoundError, match="MANIFEST_UNKNOWN"):
        await make(runtime, "bob", image="ghcr.io/cirruslabs/no-such:latest")


async def test_the_third_vm_is_refused_before_tart_run(runtime: TartRuntime) -> None:
    for name in ("alice", "bob", "carol"):
        await make(runtime, name)
    await runtime.start("alice")
    await runtime.start("bob")
    with pytest.raises(ConflictError, match="at most 2 VMs") as refused:
        await runtime.start("carol")
    assert "tidepool-ws-alice, tidepool-ws-bob" in str(refused.value)
    assert not runtime.run_log("carol").exists()  # `tart run` was never called
    assert (await runtime.state("carol")).status is InstanceStatus.STOPPED
    await runtime.stop("alice")
    await runtime.start("carol")  # room again
    assert (await runtime.state("carol")).status is InstanceStatus.RUNNING


async def test_a_vm_outside_tidepool_counts_against_the_limit(
    runtime: TartRuntime, foreign_vm: subprocess.Popen[bytes]
) -> None:
    await make(runtime, "alice")
    await make(runtime, "bob")
    await runtime.start("alice")
    with pytest.raises(ConflictError, match="users-own-vm"):
        await runtime.start("bob")
    assert [item.name for item in await runtime.list()] == ["alice", "bob"]


async def test_when_tart_run_hits_the_limit_its_message_is_quoted(fake: FakeTart) -> None:
    runtime = fake.runtime(max_running_vms=3)  # believes in more room than the Mac has
    for name in ("alice", "bob", "carol"):
        await make(runtime, name)
    try:
        await runtime.start("alice")
        await runtime.start("bob")
        with pytest.raises(ConflictError, match="The number of VMs exceeds the system limit"):
            await runtime.start("carol")
        assert "other running VMs: tidepool-ws-alice, tidepool-ws-bob" in (
            runtime.run_log("carol").read_text()
        )
    finally:
        for name in ("alice", "bob", "carol"):
            await runtime.delete(name)


async def test_a_failing_tart_run_is_reported_from_its_log_at_once(fake: FakeTart) -> None:
    fake.add_image("broken", run_error="VM is missing some of its files (disk.img)")
    runtime = fake.runtime(boot_timeout=30)
    await make(runtime, "alice", image="broken")
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeOperationError, match=r"missing some of its files \(disk.img\)"):
            await runtime.start("alice")
        assert time.monotonic() - started < 10  # did not sit out the boot timeout
    finally:
        await runtime.delete("alice")


async def test_no_ip_in_time_is_a_timeout_quoting_tart(
    fake: FakeTart, runtime: TartRuntime
) -> None:
    fake.add_image("no-network", no_ip=True)
    await make(runtime, "alice", image="no-network")
    await runtime.start("alice")
    started = time.monotonic()
    with pytest.raises(TimeoutExpiredError, match="no IP address found"):
        await runtime.wait_for_ipv4("alice", timeout=1)
    assert 1 <= time.monotonic() - started < 10
    state = await runtime.state("alice")
    assert (state.status, state.ipv4) == (InstanceStatus.RUNNING, None)


async def test_a_hanging_tart_is_killed_at_the_timeout(fake: FakeTart) -> None:
    runtime = fake.runtime(command_timeout=1, extra_env={**fake.env, "FAKE_TART_HANG": "list"})
    started = time.monotonic()
    with pytest.raises(TimeoutExpiredError, match="did not finish in 1s"):
        await runtime.list()
    assert time.monotonic() - started < 5


async def test_exec_timeout(runtime: TartRuntime) -> None:
    await make(runtime, "alice")
    await runtime.start("alice")
    started = time.monotonic()
    with pytest.raises(TimeoutExpiredError):
        await runtime.exec("alice", ["sleep", "30"], timeout=0.5)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("command", ["list", "get", "ip"])
async def test_unparsable_output_is_an_error_naming_the_command(
    fake: FakeTart, command: str
) -> None:
    setup = fake.runtime()
    await make(setup, "alice")
    await setup.start("alice")
    runtime = fake.runtime(extra_env={**fake.env, "FAKE_TART_GARBAGE": command})
    try:
        with pytest.raises(RuntimeOperationError, match=f"the output of `tart {command}"):
            if command == "list":
                await runtime.list()
            elif command == "get":
                await runtime.state("alice")
            else:
                await runtime.wait_for_ipv4("alice", timeout=5)
    finally:
        await setup.delete("alice")


async def test_a_missing_tart_is_runtime_unavailable(tmp_path: Path) -> None:
    runtime = TartRuntime(tart=str(tmp_path / "no-tart-here"), state_dir=tmp_path)
    with pytest.raises(RuntimeUnavailableError, match="brew install cirruslabs/cli/tart"):
        await runtime.list()


async def test_images_without_the_agent_are_reached_over_ssh(
    fake: FakeTart, runtime: TartRuntime
) -> None:
    fake.add_image("no-agent", agent=False)
    await make(runtime, "alice", image="no-agent", environment={"WORKSPACE_NAME": "alice"})
    await runtime.start("alice")  # delivers the environment file over SSH
    result = await runtime.exec(
        "alice", ["printenv", "GREETING"], user=1000, env={"GREETING": "it's $HOME; rm -rf /"}
    )
    assert (result.exit_code, result.stdout) == (0, "it's $HOME; rm -rf /\n")
    written = await runtime.exec("alice", ["cat", "/etc/tidepool/workspace.env"])
    assert written.stdout == "WORKSPACE_NAME=alice\n"


async def test_without_agent_or_ssh_exec_says_why(fake: FakeTart) -> None:
    fake.add_image("no-agent", agent=False)
    runtime = fake.runtime(ssh=None)
    await make(runtime, "alice", image="no-agent")
    try:
        await runtime.start("alice")
        with pytest.raises(RuntimeOperationError, match="is the Tart Guest Agent running"):
            await runtime.exec("alice", ["true"])
    finally:
        await runtime.delete("alice")


async def test_when_ssh_is_refused_both_answers_are_quoted(
    fake: FakeTart, runtime: TartRuntime
) -> None:
    fake.add_image("locked", agent=False, ssh=False)
    await make(runtime, "alice", image="locked")
    await runtime.start("alice")
    with pytest.raises(RuntimeOperationError, match=r"Guest Agent.*Permission denied"):
        await runtime.exec("alice", ["true"])


async def test_the_environment_is_delivered_once(fake: FakeTart, runtime: TartRuntime) -> None:
    await make(runtime, "alice", environment={"WORKSPACE_NAME": "alice"})
    assert fake.vm("tidepool-ws-alice")["files"] == {}  # a Tart VM cannot be written while off
    await runtime.start("alice")
    entry = fake.vm("tidepool-ws-alice")["files"]["/etc/tidepool/workspace.env"]
    assert bytes.fromhex(entry["data"]) == b"WORKSPACE_NAME=alice\n"
    await runtime.exec("alice", ["tee", "/etc/tidepool/workspace.env"])  # the user empties it
    await runtime.stop("alice")
    await runtime.start("alice")
    assert fake.vm("tidepool-ws-alice")["files"]["/etc/tidepool/workspace.env"]["data"] == ""


async def test_list_shows_only_tidepools_vms(fake: FakeTart, runtime: TartRuntime) -> None:
    await make(runtime, "alice")
    fake.tart("clone", IMAGE, "users-own-vm")
    assert [item.name for item in await runtime.list()] == ["alice"]
    assert runtime.workspace_name("tidepool-alpine") is None


def test_parse_list_reads_tarts_pretty_json_and_the_older_running_flag() -> None:
    text = (
        '[\n  {\n    "Disk" : 50,\n    "Name" : "tidepool-ws-alice",\n    "Running" : true,\n'
        '    "Size" : 21,\n    "Source" : "local",\n    "State" : "running"\n  },\n'
        '  {\n    "Name" : "ghcr.io/cirruslabs/ubuntu:latest",\n    "Running" : false,\n'
        '    "Source" : "OCI"\n  }\n]'
    )
    first, second = parse_list(text)
    assert (first.name, first.local, first.status) == (
        "tidepool-ws-alice",
        True,
        InstanceStatus.RUNNING,
    )
    assert (second.local, second.status) == (False, InstanceStatus.STOPPED)
    assert parse_get('{"CPU": 2, "Memory": 4096, "State": "suspended"}').status is (
        InstanceStatus.STOPPED
    )


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse_list, '{"Name": "not a list"}'),
        (parse_list, '[{"Source": "local"}]'),
        (parse_get, '{"CPU": "many", "Memory": 1, "State": "running"}'),
        (parse_ip, ""),
        (parse_ip, "no IP address found, is your VM running?"),
    ],
)
def test_parsers_refuse_what_tart_does_not_print(parser: object, text: str) -> None:
    with pytest.raises(RuntimeOperationError, match="Could not parse"):
        parser(text)  # type: ignore[operator]
