"""How the workspace's environment file reaches a new instance (``IncusRuntime.create``).

An image from revision 2 renders it from the instance config at the first start, so nothing
is pushed into the stopped instance (a push there cost that start about a second); an older
image, or one built elsewhere, still gets the file pushed.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.runtime import IncusRuntime
from tidepool.domain.environment import (
    ENVIRONMENT_CONFIG_KEY,
    ENVIRONMENT_TEMPLATE_PROPERTY,
    WORKSPACE_ENV_PATH,
)
from tidepool.ports import InstanceSpec


def sync(metadata: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"type": "sync", "metadata": metadata})


async def create(properties: dict[str, str]) -> tuple[dict[str, object], list[str]]:
    """Create ``ws`` from an image with ``properties``: the create body and files pushed."""
    bodies: list[dict[str, object]] = []
    pushed: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path.startswith("/1.0/images/aliases/"):
            return sync({"target": "abc"})
        if path == "/1.0/images/abc":
            return sync({"fingerprint": "abc", "properties": properties})
        if path == "/1.0/instances/ws" and method == "GET" and not bodies:
            return httpx.Response(404, json={"type": "error", "error_code": 404, "error": "no"})
        if path == "/1.0/instances" and method == "POST":
            bodies.append(json.loads(request.content))
            return httpx.Response(202, json={"type": "async", "operation": "/1.0/operations/1"})
        if path.endswith("/wait"):
            return sync({"status_code": 200})
        if path == "/1.0/instances/ws/files" and method == "POST":
            pushed.append(request.url.params["path"])
        if path.endswith("/state"):
            return sync({"status": "Stopped", "network": {}})
        return sync({})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://incus")
    runtime = IncusRuntime(IncusClient(http))
    await runtime.create(InstanceSpec("ws", "img", environment={"WORKSPACE_NAME": "ws"}))
    return bodies[0], pushed


async def test_an_image_with_the_template_gets_the_file_from_its_config() -> None:
    body, pushed = await create({ENVIRONMENT_TEMPLATE_PROPERTY: "true"})
    config = body["config"]
    assert isinstance(config, dict)
    assert config[ENVIRONMENT_CONFIG_KEY] == "WORKSPACE_NAME=ws"  # the template adds the \n
    assert pushed == [], "nothing is pushed into the stopped instance"


@pytest.mark.parametrize("properties", [{}, {ENVIRONMENT_TEMPLATE_PROPERTY: "false"}])
async def test_an_older_image_gets_the_file_pushed(properties: dict[str, str]) -> None:
    body, pushed = await create(properties)
    config = body["config"]
    assert isinstance(config, dict)
    assert ENVIRONMENT_CONFIG_KEY not in config
    assert WORKSPACE_ENV_PATH in pushed
