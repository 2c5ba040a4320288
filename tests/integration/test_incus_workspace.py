"""A real workspace instance on a real incusd: persistence, the fast path, idempotent setup."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from support.cli import tidepool
from support.instances import launch
from tidepool import bootstrap
from tidepool.cli.vm import setup_plan
from tidepool.errors import NotFoundError
from tidepool.images.builder import BASE_ALIAS
from tidepool.ports import InstanceStatus, Runtime
from tidepool.services.ide import wait_for_ide
from tidepool.services.instances import setup_instance
from tidepool.settings import get_settings

pytestmark = pytest.mark.incus


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    async with bootstrap.opened_runtime(get_settings()) as rt:
        yield rt


@contextlib.asynccontextmanager
async def scratch_instance(runtime: Runtime, image: str | None = None) -> AsyncIterator[str]:
    name = f"tp-it-{uuid.uuid4().hex[:8]}"
    settings = get_settings()
    try:
        await launch(runtime, name, settings, image or "")
        yield name
    finally:
        with contextlib.suppress(NotFoundError):
            await runtime.delete(name)


async def test_a_file_written_in_the_workspace_survives_stop_and_start(runtime: Runtime) -> None:
    async with scratch_instance(runtime) as name:
        token = uuid.uuid4().hex
        wrote = await runtime.exec(
            name, ["sh", "-c", f"echo {token} > /home/dev/keep.txt"], user=1000
        )
        assert wrote.ok, wrote.stderr
        await runtime.stop(name)
        assert (await runtime.state(name)).status is InstanceStatus.STOPPED
        await runtime.start(name)
        address = await runtime.wait_for_ipv4(name, timeout=60)
        read = await runtime.exec(name, ["cat", "/home/dev/keep.txt"])
        assert read.stdout.strip() == token
        async with httpx.AsyncClient() as http:
            await wait_for_ide(http, address, timeout=60)


async def test_code_server_runs_as_the_workspace_user_with_its_name(runtime: Runtime) -> None:
    async with scratch_instance(runtime) as name:
        address = await runtime.wait_for_ipv4(name, timeout=60)
        async with httpx.AsyncClient() as http:
            await wait_for_ide(http, address, timeout=60)
        processes = await runtime.exec(name, ["ps", "-eo", "user=,args="])
        owners = {
            line.split()[0] for line in processes.stdout.splitlines() if "code-server" in line
        }
        assert owners == {"dev"}, processes.stdout
        env = await runtime.exec(name, ["cat", "/etc/tidepool/workspace.env"])
        assert env.stdout == f"WORKSPACE_NAME={name}\n"
        machine_id = await runtime.exec(name, ["cat", "/etc/machine-id"])
        assert len(machine_id.stdout.strip()) == 32, "each instance gets its own identity"


async def test_setup_provisions_a_plain_base_instance_and_is_idempotent(runtime: Runtime) -> None:
    """The fast path: `vm setup` turns an instance of the plain image into a workspace."""
    built = tidepool("image", "build", "--base")
    assert built.returncode == 0, built.stdout + built.stderr
    settings = get_settings()
    async with scratch_instance(runtime, BASE_ALIAS) as name:
        before = await runtime.exec(name, ["test", "-e", "/opt/tidepool/code-server"])
        assert not before.ok, "the base image must not have code-server"
        async with httpx.AsyncClient() as http:
            address = await setup_instance(runtime, http, name, lambda: setup_plan(settings))
            calls: list[str] = []
            again = await setup_instance(
                runtime, http, name, lambda: setup_plan(settings), report=calls.append
            )
        assert again == address
        assert calls[0] == "code-server is already installed and running"
        user = await runtime.exec(name, ["id", "-u", "dev"])
        assert user.stdout.strip() == "1000"


def test_host_init_is_idempotent() -> None:
    first = tidepool("host", "init")
    second = tidepool("host", "init")
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert "nothing changed" in second.stdout


def test_image_build_is_idempotent() -> None:
    first = tidepool("image", "build")
    second = tidepool("image", "build")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Up to date" in second.stdout
