"""The Incus adapter's edge, against httpx.MockTransport: envelopes, operations, errors."""

import json
from collections.abc import Callable

import httpx
import pytest

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.runtime import IncusRuntime
from tidepool.domain.environment import render_env_file
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RuntimeOperationError,
    RuntimeUnavailableError,
    StorageFullError,
)
from tidepool.ports import InstanceSpec, InstanceStatus

Handler = Callable[[httpx.Request], httpx.Response]


def runtime(handler: Handler) -> IncusRuntime:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://incus")
    return IncusRuntime(IncusClient(http))


def sync(metadata: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"type": "sync", "metadata": metadata})


def error(code: int, message: str) -> httpx.Response:
    return httpx.Response(code, json={"type": "error", "error": message, "error_code": code})


STATE = {
    "status": "Running",
    "network": {
        "lo": {"addresses": [{"family": "inet", "address": "127.0.0.1", "scope": "local"}]},
        "eth0": {
            "addresses": [
                {"family": "inet6", "address": "fe80::1", "scope": "link"},
                {"family": "inet", "address": "10.213.77.9", "scope": "global"},
            ]
        },
    },
}


async def test_state_reads_status_and_the_global_ipv4() -> None:
    rt = runtime(lambda request: sync(STATE))
    state = await rt.state("ws")
    assert state.status is InstanceStatus.RUNNING
    assert state.ipv4 == "10.213.77.9"


async def test_a_missing_instance_is_not_found() -> None:
    rt = runtime(lambda request: error(404, "Instance not found"))
    with pytest.raises(NotFoundError, match="Instance not found"):
        await rt.state("ws")


async def test_a_failed_operation_quotes_incus() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/wait"):
            return sync({"status_code": 400, "status": "Failure", "err": "disk quota exceeded"})
        if request.url.path == "/1.0/instances/ws/state" and request.method == "GET":
            return sync({"status": "Stopped", "network": {}})
        return httpx.Response(202, json={"type": "async", "operation": "/1.0/operations/1"})

    with pytest.raises(RuntimeOperationError, match="disk quota exceeded"):
        await runtime(handler).start("ws")


async def test_a_start_that_loses_a_race_to_another_start_is_done() -> None:
    """Two reconciles of one workspace (a job delivered twice) both saw it stopped: Incus
    refuses the second start, and the instance is running, which is what was asked."""
    states = iter(["Stopped", "Running"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/wait"):
            return sync({"status_code": 400, "status": "Failure", "err": "already running"})
        if request.url.path == "/1.0/instances/ws/state" and request.method == "GET":
            return sync({"status": next(states), "network": {}})
        return httpx.Response(202, json={"type": "async", "operation": "/1.0/operations/1"})

    await runtime(handler).start("ws")
    assert list(states) == [], "it looked again after Incus refused"


async def test_a_delete_that_loses_a_race_to_another_delete_finds_it_gone() -> None:
    """What incusd answered the second of two deletes at once (``test_sqs_serve``)."""
    lost = "Failed to create instance delete operation: A matching non-reusable operation"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/wait"):
            return sync({"status_code": 400, "status": "Failure", "err": lost})
        if request.url.path == "/1.0/instances/ws/state":
            return sync({"status": "Stopped", "network": {}})
        if request.method == "GET":
            return error(404, "Instance not found")
        return httpx.Response(202, json={"type": "async", "operation": "/1.0/operations/1"})

    with pytest.raises(NotFoundError, match="deleted meanwhile"):
        await runtime(handler).delete("ws")


async def test_a_directory_another_writer_made_meanwhile_is_there() -> None:
    """Two reconciles push one file at once: both look, both mkdir, incusd refuses one."""
    made: set[str] = set()
    wrote: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.params["path"]
        if request.method == "HEAD":
            return sync({}) if path in made or path == "/home" else error(404, "not found")
        if request.headers.get("X-Incus-type") == "directory":
            made.add(path)  # the other writer's mkdir lands first
            return error(500, f'sftp: "mkdir {path}: file exists" (SSH_FX_FAILURE)')
        wrote.append(path)
        return sync({})

    await runtime(handler).push_file("ws", "/home/dev/x/settings.json", b"{}")
    assert wrote == ["/home/dev/x/settings.json"]


async def test_a_full_pool_is_told_apart_and_says_what_to_do() -> None:
    """What incusd answered here when a create met a full pool (``tests/chaos``)."""
    full = "write /var/lib/incus/containers/ws/backup.yaml: no space left on device"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/1.0/instances/ws" and request.method == "GET":
            return error(404, "Instance not found")
        if request.url.path.endswith("/wait"):
            return sync({"status_code": 400, "status": "Failure", "err": full})
        if request.method == "POST":
            return httpx.Response(202, json={"type": "async", "operation": "/1.0/operations/1"})
        return sync({"target": "abc"})

    with pytest.raises(StorageFullError) as raised:
        await runtime(handler).create(InstanceSpec("ws", "img", cpus=1, memory_mib=512))
    assert "storage pool is full" in str(raised.value)
    assert "no space left on device" in str(raised.value), "Incus's own words are kept"
    assert "Free space" in str(raised.value)


async def test_create_of_an_existing_name_is_a_conflict() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/1.0/images/"):
            return sync({"target": "abc"})
        if request.url.path.endswith("/wait"):
            return sync({"status_code": 400, "err": 'Instance "ws" already exists'})
        return httpx.Response(202, json={"type": "async", "operation": "/1.0/operations/1"})

    with pytest.raises(ConflictError):
        await runtime(handler).create(InstanceSpec(name="ws", image="img"))


async def test_create_from_a_missing_image_says_how_to_build_it() -> None:
    rt = runtime(lambda request: error(404, "not found"))
    with pytest.raises(NotFoundError, match="tidepool image build"):
        await rt.create(InstanceSpec(name="ws", image="nope"))


async def test_create_sends_limits_and_marks_the_instance_as_ours() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/1.0/instances/ws" and request.method == "GET" and not seen:
            return error(404, "Instance not found")
        if request.url.path == "/1.0/instances" and request.method == "POST":
            seen.append(json.loads(request.content))
            return httpx.Response(202, json={"type": "async", "operation": "/1.0/operations/1"})
        if request.url.path.endswith("/wait"):
            return sync({"status_code": 200})
        if request.url.path.endswith("/state"):
            return sync({"status": "Stopped", "network": {}})
        return sync({"target": "abc"})

    state = await runtime(handler).create(InstanceSpec("ws", "img", cpus=3, memory_mib=1024))
    assert state.status is InstanceStatus.STOPPED
    body = seen[0]
    assert body["config"] == {
        "user.tidepool.managed": "true",
        "limits.cpu": "3",
        "limits.memory": "1024MiB",
    }
    assert body["start"] is False


async def test_an_error_envelope_from_an_operation_wait_is_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/wait"):
            return httpx.Response(200, json={"type": "error", "error": "boom", "metadata": None})
        if request.url.path == "/1.0/instances/ws/state" and request.method == "GET":
            return sync({"status": "Stopped", "network": {}})
        return httpx.Response(202, json={"type": "async", "operation": "/1.0/operations/1"})

    with pytest.raises(RuntimeOperationError, match="boom"):
        await runtime(handler).start("ws")


async def test_an_unreachable_daemon_is_runtime_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no socket", request=request)

    with pytest.raises(RuntimeUnavailableError, match="tidepool host init"):
        await runtime(handler).state("ws")


async def test_names_are_validated_before_any_request() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return sync(STATE)

    rt = runtime(handler)
    for bad in ["../x", "a/b", "UPPER", "x" * 64]:
        with pytest.raises(InvalidInputError):
            await rt.state(bad)
        with pytest.raises(InvalidInputError):
            await rt.exec(bad, ["true"])
        with pytest.raises(InvalidInputError):
            await rt.push_file(bad, "/etc/x", b"")
    assert calls == []


@pytest.mark.parametrize("value", ["a\nEVIL=1", "$(reboot)", "`id`", 'x"y', "a\\b"])
def test_env_file_refuses_values_that_could_smuggle_settings(value: str) -> None:
    with pytest.raises(InvalidInputError):
        render_env_file({"WORKSPACE_NAME": value})


def test_env_file_renders_sorted_lines() -> None:
    assert render_env_file({"B": "2", "A": "x-y"}) == b"A=x-y\nB=2\n"
