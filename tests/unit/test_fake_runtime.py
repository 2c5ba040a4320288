"""InMemoryRuntime's ways of misbehaving on purpose: the knobs unit tests of services rely on.

That it otherwise behaves as the real runtimes do is ``tests/contract``'s job.
"""

from __future__ import annotations

import time

import pytest

from tidepool.adapters.fakes.runtime import InMemoryRuntime
from tidepool.errors import InvalidInputError, RuntimeOperationError, TimeoutExpiredError
from tidepool.ports import ExecResult, InstanceSpec, InstanceStatus

SPEC = InstanceSpec(name="alice", image="tidepool-workspace")


async def test_fail_on_a_step_fails_only_that_step() -> None:
    runtime = InMemoryRuntime(fail_on="start")
    await runtime.create(SPEC)
    with pytest.raises(RuntimeOperationError, match="Injected failure at 'start'"):
        await runtime.start("alice")
    assert (await runtime.state("alice")).status is InstanceStatus.STOPPED


async def test_fail_times_makes_a_flaky_runtime_that_recovers() -> None:
    runtime = InMemoryRuntime(fail_on=["create", "start"], fail_times=2)
    with pytest.raises(RuntimeOperationError):
        await runtime.create(SPEC)
    with pytest.raises(RuntimeOperationError):
        await runtime.create(SPEC)
    await runtime.create(SPEC)
    await runtime.start("alice")
    assert (await runtime.state("alice")).status is InstanceStatus.RUNNING
    assert [step for step, _ in runtime.calls[:4]] == ["create", "create", "create", "start"]


async def test_an_unknown_step_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="strat"):
        InMemoryRuntime(fail_on="strat")


async def test_delay_makes_every_call_slow() -> None:
    runtime = InMemoryRuntime(delay=0.2)
    started = time.monotonic()
    await runtime.create(SPEC)
    await runtime.start("alice")
    assert time.monotonic() - started >= 0.4


async def test_addresses_can_come_late_or_never() -> None:
    late = InMemoryRuntime(ipv4_delay=0.2)
    await late.create(SPEC)
    await late.start("alice")
    assert (await late.state("alice")).ipv4 is None
    assert (await late.wait_for_ipv4("alice", timeout=2)).startswith("127.0.10.")
    never = InMemoryRuntime(never_ipv4=True)
    await never.create(SPEC)
    await never.start("alice")
    with pytest.raises(TimeoutExpiredError):
        await never.wait_for_ipv4("alice", timeout=0.1)


async def test_a_crashed_instance_is_stopped_and_can_start_again() -> None:
    runtime = InMemoryRuntime()
    await runtime.create(SPEC)
    await runtime.start("alice")
    await runtime.wait_for_ipv4("alice", timeout=1)
    runtime.crash("alice")
    state = await runtime.state("alice")
    assert (state.status, state.ipv4) == (InstanceStatus.STOPPED, None)
    await runtime.start("alice")
    assert (await runtime.state("alice")).status is InstanceStatus.RUNNING


async def test_an_exec_handler_answers_first_and_sleep_honours_the_timeout() -> None:
    probe = ["curl", "-fsS", "localhost:8080/healthz"]

    def healthy(_instance: object, argv: object, _user: object, _env: object) -> ExecResult | None:
        return ExecResult(0, "ok\n", "") if argv == probe else None

    runtime = InMemoryRuntime(exec_handler=healthy)
    await runtime.create(SPEC)
    await runtime.start("alice")
    assert (await runtime.exec("alice", probe)).stdout == "ok\n"
    assert (await runtime.exec("alice", ["curl", "elsewhere"])).exit_code == 127
    with pytest.raises(TimeoutExpiredError):
        await runtime.exec("alice", ["sleep", "5"], timeout=0.1)
