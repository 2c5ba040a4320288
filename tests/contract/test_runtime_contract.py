"""One contract for every ``Runtime``: the in-memory fake, Tart (over the fake ``tart``) and Incus.

The services are unit-tested against ``InMemoryRuntime``; this suite is what makes that worth
something: the fake must behave as the real runtimes do, call for call, error for error. The
Incus case needs a running incusd and the workspace image; it is not skipped when they are
missing but fails, loudly, as CI always has them.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from fakes.tart_env import FakeTart
from support.incus_https import incus_over_https, trust_token
from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.adapters.incus.client import IncusClient, unix_socket_client
from tidepool.adapters.incus.runtime import IncusRuntime
from tidepool.bootstrap import build_runtime
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RuntimeOperationError,
    TidepoolError,
)
from tidepool.host.incus_remote import join_incus
from tidepool.ports import InstanceSpec, InstanceStatus, Runtime
from tidepool.settings import Settings, get_settings

IMAGE = "tidepool-contract-image"
WORKSPACE_ENV = "/etc/tidepool/workspace.env"


class ClosableRuntime(Runtime, Protocol):
    async def aclose(self) -> None: ...


@dataclass
class Subject:
    """A runtime under test, the image it can create from, and the names to clean up."""

    runtime: ClosableRuntime
    image: str
    created: list[str] = field(default_factory=list)

    def new_name(self) -> str:
        name = f"tp-contract-{secrets.token_hex(4)}"
        self.created.append(name)
        return name

    async def create(self, **spec: Any) -> str:
        name = self.new_name()
        await self.runtime.create(InstanceSpec(name=name, image=self.image, **spec))
        return name

    async def running(self, **spec: Any) -> str:
        name = await self.create(**spec)
        await self.runtime.start(name)
        return name


def in_memory(_tmp: Path) -> Subject:
    return Subject(InMemoryRuntime(images={IMAGE}), IMAGE)


def tart_over_fake(tmp: Path) -> Subject:
    fake = FakeTart(tmp)
    fake.add_image(IMAGE)
    return Subject(fake.runtime(), IMAGE)


def incus(_tmp: Path) -> Subject:
    settings = get_settings()
    runtime = IncusRuntime(IncusClient(unix_socket_client(settings.incus_socket)))
    return Subject(runtime, settings.image_alias)


HTTPS_PROJECT, HTTPS_CLIENT = "tpcontract", "tidepool-contract"


@pytest.fixture(scope="module")
def https_url() -> Iterator[str]:
    """The local incusd over loopback HTTPS, with a restricted project (``incus_https``)."""
    with incus_over_https(HTTPS_PROJECT, HTTPS_CLIENT) as url:
        yield url


async def incus_over_https_joined(tmp: Path, url: str) -> Subject:
    """Incus as a remote: joined with a trust token, a client certificate, the server's
    pinned, every call in the restricted project; built as ``serve`` builds its runtime."""
    settings = Settings(data_dir=tmp / "data")
    await join_incus(settings, url, trust_token(HTTPS_PROJECT, HTTPS_CLIENT), HTTPS_PROJECT)
    runtime = build_runtime(settings)
    assert isinstance(runtime, IncusRuntime)
    return Subject(runtime, get_settings().image_alias)


@pytest.fixture(
    params=[
        pytest.param(in_memory, id="in-memory"),
        pytest.param(tart_over_fake, id="tart-fake"),
        pytest.param(incus, id="incus", marks=pytest.mark.incus),
        pytest.param(incus_over_https_joined, id="incus-https", marks=pytest.mark.incus),
    ]
)
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param is incus_over_https_joined:
        subject = await incus_over_https_joined(tmp_path, request.getfixturevalue("https_url"))
    else:
        build: Callable[[Path], Subject] = request.param
        subject = build(tmp_path)
    try:
        yield subject
    finally:
        for name in subject.created:
            with suppress(NotFoundError):
                await subject.runtime.delete(name)
        await subject.runtime.aclose()


async def test_create_makes_a_stopped_instance(subject: Subject) -> None:
    name = subject.new_name()
    created = await subject.runtime.create(
        InstanceSpec(name=name, image=subject.image, cpus=1, memory_mib=1024)
    )
    assert (created.name, created.status, created.ipv4) == (name, InstanceStatus.STOPPED, None)
    assert (await subject.runtime.state(name)).status is InstanceStatus.STOPPED
    listed = {state.name: state for state in await subject.runtime.list()}
    assert listed[name].status is InstanceStatus.STOPPED


async def test_an_instance_keeps_the_owner_it_was_made_with_and_a_new_one_claimed(
    subject: Subject,
) -> None:
    """The owner lives with the instance (``domain.ownership``): listed, read, replaced by a
    claim; an instance made without one records none."""
    made_by = InstanceOwner("1" * 32, "2" * 32)
    owned = await subject.create(owner=made_by)
    plain = await subject.create()
    listed = {state.name: state for state in await subject.runtime.list()}
    assert (listed[owned].owner, listed[plain].owner) == (made_by, None)
    assert await subject.runtime.owner(owned) == made_by
    assert await subject.runtime.owner(plain) is None
    claimed = InstanceOwner("3" * 32, "4" * 32)
    await subject.runtime.claim(plain, claimed)
    assert await subject.runtime.owner(plain) == claimed
    assert (await subject.runtime.state(plain)).status is InstanceStatus.STOPPED
    with pytest.raises(NotFoundError):
        await subject.runtime.owner("tp-contract-missing")
    with pytest.raises(NotFoundError):
        await subject.runtime.claim("tp-contract-missing", claimed)


async def test_take_swaps_the_owner_only_from_the_one_expected(subject: Subject) -> None:
    """The warm pool's hand-over: of two takes expecting the same owner, one wins; a take
    expecting anything else changes nothing."""
    pooled = InstanceOwner("1" * 32, "pool:" + "a" * 24)
    first, second = InstanceOwner("1" * 32, "2" * 32), InstanceOwner("1" * 32, "3" * 32)
    name = await subject.create(owner=pooled)
    assert await subject.runtime.take(name, pooled, first)
    assert not await subject.runtime.take(name, pooled, second)
    assert await subject.runtime.owner(name) == first
    unowned = await subject.create()
    assert not await subject.runtime.take(unowned, pooled, second)
    assert await subject.runtime.owner(unowned) is None
    with pytest.raises(NotFoundError):
        await subject.runtime.take("tp-contract-missing", pooled, first)


async def test_an_image_has_an_id_and_a_missing_one_is_not_found(subject: Subject) -> None:
    assert await subject.runtime.image_id(subject.image)
    assert await subject.runtime.image_id(subject.image) == await subject.runtime.image_id(
        subject.image
    )
    with pytest.raises(NotFoundError):
        await subject.runtime.image_id("tidepool-no-such-image")


async def test_create_refuses_a_name_in_use(subject: Subject) -> None:
    name = await subject.create()
    with pytest.raises(ConflictError):
        await subject.runtime.create(InstanceSpec(name=name, image=subject.image))
    assert (await subject.runtime.state(name)).status is InstanceStatus.STOPPED


async def test_create_from_a_missing_image_is_not_found(subject: Subject) -> None:
    name = subject.new_name()
    with pytest.raises(NotFoundError):
        await subject.runtime.create(InstanceSpec(name=name, image="tidepool-no-such-image"))
    assert name not in {state.name for state in await subject.runtime.list()}


@pytest.mark.parametrize(
    "call",
    [
        lambda runtime, name: runtime.state(name),
        lambda runtime, name: runtime.start(name),
        lambda runtime, name: runtime.stop(name),
        lambda runtime, name: runtime.delete(name),
    ],
    ids=["state", "start", "stop", "delete"],
)
async def test_an_unknown_instance_is_not_found(
    subject: Subject, call: Callable[[Runtime, str], Coroutine[Any, Any, object]]
) -> None:
    with pytest.raises(NotFoundError):
        await call(subject.runtime, "tp-contract-never-created")


async def test_start_runs_the_instance_and_gives_it_an_address(subject: Subject) -> None:
    name = await subject.running()
    await subject.runtime.start(name)  # a second start is a no-op
    address = await subject.runtime.wait_for_ipv4(name, timeout=60)
    assert ipaddress.IPv4Address(address)
    state = await subject.runtime.state(name)
    assert (state.status, state.ipv4) == (InstanceStatus.RUNNING, address)
    listed = {item.name: item for item in await subject.runtime.list()}
    assert (listed[name].status, listed[name].ipv4) == (InstanceStatus.RUNNING, address)


async def test_stop_stops_and_is_idempotent(subject: Subject) -> None:
    name = await subject.running()
    await subject.runtime.wait_for_ipv4(name, timeout=60)
    await subject.runtime.stop(name)
    assert (await subject.runtime.state(name)).status is InstanceStatus.STOPPED
    await subject.runtime.stop(name)
    state = await subject.runtime.state(name)
    assert (state.status, state.ipv4) == (InstanceStatus.STOPPED, None)


async def test_stop_works_while_the_instance_is_still_booting(subject: Subject) -> None:
    """A user may stop a workspace that has just been started; it must not be left running."""
    name = await subject.running()
    await subject.runtime.stop(name)
    assert (await subject.runtime.state(name)).status is InstanceStatus.STOPPED


async def test_a_stopped_instance_has_no_address_to_wait_for(subject: Subject) -> None:
    name = await subject.create()
    with pytest.raises(RuntimeOperationError):
        await subject.runtime.wait_for_ipv4(name, timeout=2)


async def test_delete_removes_a_running_instance(subject: Subject) -> None:
    name = await subject.running()
    await subject.runtime.delete(name)
    with pytest.raises(NotFoundError):
        await subject.runtime.state(name)
    assert name not in {state.name for state in await subject.runtime.list()}


async def test_exec_returns_output_and_exit_codes(subject: Subject) -> None:
    name = await subject.running()
    echoed = await subject.runtime.exec(name, ["echo", "hello", "tide pool"])
    assert (echoed.exit_code, echoed.stdout, echoed.ok) == (0, "hello tide pool\n", True)
    failed = await subject.runtime.exec(name, ["false"])
    assert (failed.exit_code, failed.ok) == (1, False)
    missing = await subject.runtime.exec(name, ["cat", "/tidepool/no/such/file"])
    assert missing.exit_code == 1
    assert "No such file or directory" in missing.stderr


async def test_exec_as_a_user_with_an_environment(subject: Subject) -> None:
    name = await subject.running()
    whoami = await subject.runtime.exec(name, ["id", "-u"], user=1000)
    assert whoami.stdout.strip() == "1000"
    printed = await subject.runtime.exec(
        name, ["printenv", "TIDEPOOL_CONTRACT"], env={"TIDEPOOL_CONTRACT": "it's a value"}
    )
    assert printed.stdout == "it's a value\n"


async def test_exec_needs_a_command_and_a_running_instance(subject: Subject) -> None:
    name = await subject.create()
    with pytest.raises(InvalidInputError):
        await subject.runtime.exec(name, [])
    with pytest.raises(RuntimeOperationError):
        await subject.runtime.exec(name, ["true"])


async def test_push_file_writes_content_mode_and_owner(subject: Subject) -> None:
    name = await subject.running()
    path = "/etc/tidepool/contract/secret.txt"
    await subject.runtime.push_file(name, path, b"tide\npool\n", mode=0o600, uid=1000, gid=1000)
    assert (await subject.runtime.exec(name, ["cat", path])).stdout == "tide\npool\n"
    stat = await subject.runtime.exec(name, ["stat", "-c", "%a %u %g", path])
    assert stat.stdout.split() == ["600", "1000", "1000"]
    with pytest.raises(InvalidInputError):
        await subject.runtime.push_file(name, "relative/path", b"x")


async def test_the_environment_reaches_the_instance(subject: Subject) -> None:
    name = await subject.running(environment={"WORKSPACE_NAME": "contract"})
    content = await subject.runtime.exec(name, ["cat", WORKSPACE_ENV])
    assert content.ok, content.stderr
    assert "WORKSPACE_NAME=contract" in content.stdout.splitlines()


async def test_an_unsafe_environment_is_refused(subject: Subject) -> None:
    name = subject.new_name()
    with pytest.raises(InvalidInputError):
        await subject.runtime.create(
            InstanceSpec(name=name, image=subject.image, environment={"A": "x\nB=y"})
        )
    with pytest.raises(NotFoundError):
        await subject.runtime.state(name)


async def test_every_failure_is_a_tidepool_error(subject: Subject) -> None:
    with pytest.raises(TidepoolError):
        await subject.runtime.state("Not A Valid Name")
