"""An older workspace's home moved onto its own Incus volume, on a real incusd: the files come
over byte for byte with their owners, modes and links, home is the volume afterwards and the
IDE answers from it; a migration crashed at any step boundary, or SIGKILLed while its copy
runs, converges when run again.

This is also where hot-plug is shown on Incus (a volume mounted into, and out of, a *running*
instance): the home volume contract's instances are empty containers that cannot boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from support.instances import launch
from tidepool import bootstrap
from tidepool.adapters.incus.client import IncusClient, unix_socket_client
from tidepool.adapters.incus.volumes import IncusHomeVolumes
from tidepool.domain.home_migration import COPY_PATH
from tidepool.domain.names import InstanceName
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import TidepoolError
from tidepool.ports import InstanceStatus, Runtime
from tidepool.ports.volumes import HOME_PATH
from tidepool.services.home_migration import MARKER, STEPS, HomeMigration
from tidepool.services.ide import wait_for_ide
from tidepool.settings import get_settings

pytestmark = pytest.mark.incus
OWNER = InstanceOwner("e" * 32, "home-migration-test")
ODD = bytes(range(256)) * 4 + b"\r\n\x00\xff"
#: Each kept file with its owner, group, mode, type and link target, and a digest of its bytes.
MANIFEST = (
    "cd /home/dev && find kept .kept-rc -printf '%p %U %G %m %y %l\\n' | sort"
    " && find kept .kept-rc -type f -print0 | sort -z | xargs -0 sha256sum"
)
#: Run as a process of its own, to be SIGKILLed in the middle of its copy.
RUNNER = """
import asyncio, sys
from tidepool import bootstrap
from tidepool.adapters.incus.client import IncusClient, unix_socket_client
from tidepool.adapters.incus.volumes import IncusHomeVolumes
from tidepool.domain.ownership import InstanceOwner
from tidepool.services.home_migration import HomeMigration
from tidepool.settings import get_settings

async def main(instance, volume, installation, workspace):
    settings = get_settings()
    async with bootstrap.opened_runtime(settings) as runtime:
        client = IncusClient(unix_socket_client(settings.incus_socket))
        volumes = IncusHomeVolumes(client, settings.storage_pool)
        owner = InstanceOwner(installation, workspace)
        await HomeMigration(runtime, volumes).migrate(instance, volume, owner)
        await client.aclose()

asyncio.run(main(*sys.argv[1:]))
"""


class Crash(Exception):
    """Where the migrating process 'dies'."""


@dataclass
class Incus:
    runtime: Runtime
    volumes: IncusHomeVolumes
    instances: list[InstanceName] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    def volume(self) -> str:
        name = f"tpm-home-{secrets.token_hex(4)}"
        self.made.append(name)
        return name

    async def workspace(self, *, many: int = 0) -> InstanceName:
        """A workspace of the image as it was before home volumes: kept files in its root
        filesystem's home, written as ``dev``, and it stopped."""
        name = InstanceName(f"tpm-{secrets.token_hex(4)}")
        self.instances.append(name)
        await launch(self.runtime, name, get_settings())
        push = self.runtime.push_file
        await push(name, f"{HOME_PATH}/kept/odd bytes.bin", ODD, uid=1000, gid=1000)
        await push(name, f"{HOME_PATH}/kept/secret", b"only mine\n", mode=0o600, uid=1000, gid=1000)
        await push(name, f"{HOME_PATH}/.kept-rc", b"alias ll='ls -l'\n", uid=1000, gid=1000)
        script = "cd /home/dev/kept && ln -s 'odd bytes.bin' link && chown -h dev:dev . link"
        await sh(self.runtime, name, script)
        if many:
            await sh(
                self.runtime,
                name,
                f"mkdir /home/dev/kept/many && cd /home/dev/kept/many && seq {many} | "
                "xargs touch && for f in $(seq 50); do head -c 4096 /dev/urandom > $f; done",
                user=1000,
            )
        await self.runtime.stop(name)
        return name


async def sh(runtime: Runtime, instance: str, script: str, user: int | None = None) -> str:
    done = await runtime.exec(instance, ["sh", "-c", script], user=user, env={"HOME": HOME_PATH})
    assert done.ok, f"{script}: {done.stderr}"
    return done.stdout


@pytest.fixture
async def incus() -> AsyncIterator[Incus]:
    settings = get_settings()
    client = IncusClient(unix_socket_client(settings.incus_socket))
    async with bootstrap.opened_runtime(settings) as runtime:
        made = Incus(runtime, IncusHomeVolumes(client, settings.storage_pool))
        try:
            yield made
        finally:
            for instance in made.instances:
                with contextlib.suppress(TidepoolError):
                    await runtime.delete(instance)
            for volume in made.made:
                with contextlib.suppress(TidepoolError):
                    await made.volumes.delete(volume)
            await client.aclose()


async def home_is(incus: Incus, instance: InstanceName, volume: str, manifest: str) -> str:
    """Start the migrated workspace and check that home is ``volume`` with the kept files;
    return its address."""
    await incus.runtime.start(instance)
    address = await incus.runtime.wait_for_ipv4(instance, timeout=60)
    mounted = await sh(incus.runtime, instance, f"findmnt -n -o SOURCE {HOME_PATH}")
    assert mounted.strip().endswith(f"/custom/default_{volume}]"), mounted
    assert await sh(incus.runtime, instance, MANIFEST) == manifest
    return address


async def reset(incus: Incus, instance: InstanceName) -> None:
    """Back to before the migration: home is the root filesystem's again."""
    await incus.runtime.stop(instance)
    await incus.volumes.detach(instance, HOME_PATH)
    assert await incus.volumes.mounts(instance) == {}


async def test_a_home_moves_onto_its_volume_whole_and_the_ide_answers_from_it(
    incus: Incus,
) -> None:
    instance = await incus.workspace()
    await incus.runtime.start(instance)
    manifest = await sh(incus.runtime, instance, MANIFEST)
    assert "kept/secret 1000 1000 600 f" in manifest
    assert "kept/link 1000 1000 777 l odd bytes.bin" in manifest
    assert "kept/odd bytes.bin 1000 1000 644 f" in manifest and ".kept-rc 1000 1000" in manifest
    await incus.runtime.stop(instance)
    volume = incus.volume()

    await HomeMigration(incus.runtime, incus.volumes).migrate(instance, volume, OWNER)
    assert (await incus.runtime.state(instance)).status is InstanceStatus.STOPPED
    assert await incus.volumes.mounts(instance) == {HOME_PATH: volume}

    address = await home_is(incus, instance, volume, manifest)
    odd = await incus.runtime.exec(
        instance, ["od", "-An", "-v", "-tx1", f"{HOME_PATH}/kept/odd bytes.bin"]
    )
    assert bytes.fromhex(odd.stdout.replace("\n", " ")) == ODD
    async with httpx.AsyncClient() as http:
        await wait_for_ide(http, address, timeout=120)
    assert "code-server" in await sh(incus.runtime, instance, "ls /home/dev/.local/share")

    # Hot-plug: the volume mounts beside home in the running instance, and unmounts again.
    await incus.volumes.attach(volume, instance, path=COPY_PATH)
    assert (await incus.runtime.exec(instance, ["mountpoint", "-q", COPY_PATH])).ok
    await incus.volumes.detach(instance, COPY_PATH)
    assert not (await incus.runtime.exec(instance, ["mountpoint", "-q", COPY_PATH])).ok


async def test_a_migration_crashed_at_each_boundary_converges_when_run_again(
    incus: Incus,
) -> None:
    instance = await incus.workspace()
    await incus.runtime.start(instance)
    manifest = await sh(incus.runtime, instance, MANIFEST)
    await incus.runtime.stop(instance)
    for boundary in STEPS:

        def reached(step: str, boundary: str = boundary) -> None:
            if step == boundary:
                raise Crash(step)

        volume = incus.volume()
        with pytest.raises(Crash):
            await HomeMigration(incus.runtime, incus.volumes, reached).migrate(
                instance, volume, OWNER
            )
        await HomeMigration(incus.runtime, incus.volumes).migrate(instance, volume, OWNER)
        assert await incus.volumes.mounts(instance) == {HOME_PATH: volume}, boundary
        await home_is(incus, instance, volume, manifest)
        await reset(incus, instance)


async def test_a_migration_killed_during_its_copy_converges_when_run_again(incus: Incus) -> None:
    instance = await incus.workspace(many=30000)
    await incus.runtime.start(instance)
    manifest = await sh(incus.runtime, instance, MANIFEST)
    await incus.runtime.stop(instance)
    volume = incus.volume()
    args = [instance, volume, OWNER.installation, OWNER.workspace_id]
    runner = await asyncio.create_subprocess_exec(sys.executable, "-c", RUNNER, *args)
    try:
        deadline = time.monotonic() + 120
        while not await copying(incus.runtime, instance):
            assert runner.returncode is None, "the runner ended before its copy was seen"
            assert time.monotonic() < deadline, "no copy began"
            await asyncio.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            runner.kill()  # SIGKILL: no handler, no cleanup
        await runner.wait()
    assert runner.returncode == -9
    marker = await incus.runtime.exec(instance, ["stat", MARKER])
    assert not marker.ok, "killed before its marker"

    await HomeMigration(incus.runtime, incus.volumes).migrate(instance, volume, OWNER)
    await home_is(incus, instance, volume, manifest)


async def copying(runtime: Runtime, instance: InstanceName) -> bool:
    if (await runtime.state(instance)).status is not InstanceStatus.RUNNING:
        return False
    return (await runtime.exec(instance, ["pgrep", "-x", "cp"])).ok
