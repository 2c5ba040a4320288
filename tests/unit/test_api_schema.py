"""The OpenAPI schema tells the truth about errors, and what the API fuzz test found stays fixed.

``tests/fuzz`` holds every answer to the schema; these are the cases it found, kept small.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.api.problems import PROBLEM
from tidepool.auth.audit import AuditLog
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = memory_store()[0]
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://tidepool.test",
        audit=AuditLog(tmp_path / "audit.log"),
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def openapi(api: httpx.AsyncClient) -> dict[str, Any]:
    spec: dict[str, Any] = (await api.get("/api/openapi.json")).json()
    return spec


async def test_every_4xx_in_the_schema_is_a_problem_with_its_schema(
    api: httpx.AsyncClient,
) -> None:
    spec = await openapi(api)
    schemas = spec["components"]["schemas"]
    assert {"Problem", "InvalidRequest", "FieldProblem"} <= schemas.keys()
    assert "HTTPValidationError" not in schemas  # FastAPI's 422, which the API never sends
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert "413" in answers, (method, path)  # the body limit holds everywhere
            for status, answer in answers.items():
                if status.startswith("4"):
                    assert list(answer["content"]) == [PROBLEM], (method, path, status)
                    ref = answer["content"][PROBLEM]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[1] in schemas


async def test_the_schema_states_the_rules_the_service_answers_with_400(
    api: httpx.AsyncClient,
) -> None:
    spec = await openapi(api)
    parameter = spec["paths"]["/api/workspaces/{name}"]["get"]["parameters"][0]
    assert parameter["schema"]["pattern"].startswith("^[a-z]")
    assert "api" in parameter["schema"]["not"]["enum"]
    assert "400" in spec["paths"]["/api/workspaces/{name}"]["get"]["responses"]
    stream = spec["paths"]["/api/events"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream


async def test_every_operation_with_a_body_declares_the_400_of_a_body_that_is_not_json(
    api: httpx.AsyncClient,
) -> None:
    """Found by the fuzz test: a body that is not JSON is a 400, which the schema must say."""
    spec = await openapi(api)
    silent = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation and "400" not in operation["responses"]
    ]
    assert silent == []


async def test_a_405_names_every_method_the_path_takes(api: httpx.AsyncClient) -> None:
    response = await api.put("/api/workspaces/dev1")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)
    # Starlette said "GET" alone: the first route that matched the path.
    assert response.headers["allow"] == "DELETE, GET"
    collection = await api.request("OPTIONS", "/api/workspaces")
    assert collection.status_code == 405 and collection.headers["allow"] == "GET, POST"


@pytest.mark.parametrize("since", ["0.5", "1700000000", "-3"])
async def test_the_audit_log_refuses_a_bare_number_for_since(
    api: httpx.AsyncClient, since: str
) -> None:
    response = await api.get("/api/audit", params={"since": since})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "since" in response.json()["detail"] and "ISO 8601" in response.json()["detail"]


async def test_the_audit_log_takes_an_iso_time_for_since(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/audit", params={"since": "2026-11-30T12:00:00Z"})
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "truncated": False}
