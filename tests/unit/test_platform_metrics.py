"""``/api/metrics``: Prometheus's text, every label set from the start, counted from the event
log, and only for admins and scrapers' tokens."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.domain.identity import Identity, Scope
from tidepool.domain.workspace import Action, Status
from tidepool.edge import USER_HEADER
from tidepool.errors import ForbiddenError
from tidepool.ports import WorkspaceStore
from tidepool.services.metrics import PHASES, PlatformMetrics
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "tidepool.json"


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, labels): the text must parse with Prometheus's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


@pytest.fixture
def parts() -> tuple[WorkspaceStore, PlatformMetrics]:
    store, queue = memory_store()
    return store, PlatformMetrics(store, queue)


async def test_every_label_set_is_there_from_the_start(
    parts: tuple[WorkspaceStore, PlatformMetrics],
) -> None:
    _, metrics = parts
    seen = samples(await metrics.render())
    for status in Status:
        assert seen[("tidepool_workspaces", (("status", status.value),))] == 0
        assert seen[("tidepool_workspace_transitions_total", (("status", status.value),))] == 0
    for reason in ("user", "idle", "max_lifetime", "quota", "admin"):
        assert seen[("tidepool_workspace_stops_total", (("reason", reason),))] == 0
    for phase in PHASES:
        assert seen[("tidepool_start_phase_seconds_count", (("phase", phase),))] == 0
    assert seen[("tidepool_queue_jobs", ())] == 0
    outcomes = {k[1] for k in seen if k[0] == "tidepool_api_request_duration_seconds_count"}
    assert (("method", "GET"), ("outcome", "5xx")) in outcomes


async def test_a_create_and_a_stop_are_counted_from_the_event_log(
    parts: tuple[WorkspaceStore, PlatformMetrics],
) -> None:
    store, metrics = parts
    await metrics.begin()
    service = WorkspaceService(store, default_image="img")
    who = Identity("ann", admin=False)
    made = await service.create("alpha", who=who)
    current = await store.get("alpha")
    for status in (Status.CREATING, Status.STARTING):
        current = await store.save(current.move_to(status), event=("status", status.value, ""))
    for phase in ("instance_created", "booted", "ide_healthy"):
        await store.add_event(made.id, "phase", phase, "")
    current = await store.save(
        current.move_to(Status.RUNNING, address="10.0.0.2"), event=("status", "running", "")
    )
    await service.request("alpha", Action.STOP, who=who)

    seen = samples(await metrics.render())
    assert seen[("tidepool_start_phase_seconds_count", (("phase", "booted"),))] == 1
    assert seen[("tidepool_start_phase_seconds_count", (("phase", "running"),))] == 1
    assert seen[("tidepool_workspace_transitions_total", (("status", "running"),))] == 1
    assert seen[("tidepool_workspace_stops_total", (("reason", "user"),))] == 1
    assert seen[("tidepool_workspaces", (("status", "running"),))] == 1
    assert seen[("tidepool_queue_jobs", ())] == 1  # the stop waits for a worker
    # Read once: a second scrape counts nothing twice.
    again = samples(await metrics.render())
    assert again[("tidepool_workspace_stops_total", (("reason", "user"),))] == 1


@pytest.fixture
async def api(parts: tuple[WorkspaceStore, PlatformMetrics]) -> AsyncIterator[httpx.AsyncClient]:
    store, metrics = parts
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://t.test",
        auth=True,
        admins=lambda: frozenset({"root"}),
        metrics=metrics,
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_only_an_admin_reads_the_metrics(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/metrics", headers={USER_HEADER: ""})).status_code == 401
    refused = await api.get("/api/metrics", headers={USER_HEADER: "ann"})
    assert refused.status_code == 403 and "metrics" in refused.json()["detail"]
    answered = await api.get("/api/metrics", headers={USER_HEADER: "root"})
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("text/plain")
    seen = samples(answered.content)
    # The requests just made were timed (the refusals, at least, are over).
    timed = ("tidepool_api_request_duration_seconds_count", (("method", "GET"), ("outcome", "4xx")))
    assert seen[timed] == 2


def test_the_metrics_scope_counts_on_a_token_only() -> None:
    scraper = Identity.acting(
        "prom", user_is_admin=False, scopes=frozenset({Scope.READ, Scope.METRICS}), token_id="t1"
    )
    scraper.check_may_read_metrics()
    person = Identity.acting("ann", user_is_admin=False)  # a session: every scope of ann's
    with pytest.raises(ForbiddenError, match="metrics"):
        person.check_may_read_metrics()
    plain_token = replace(scraper, scopes=frozenset({Scope.READ}))
    with pytest.raises(ForbiddenError, match="metrics"):
        plain_token.check_may_read_metrics()


def test_only_an_admin_may_mint_a_metrics_token() -> None:
    ann = Identity("ann", admin=False)
    with pytest.raises(ForbiddenError, match="metrics"):
        ann.check_may_grant("ann", frozenset({Scope.READ, Scope.METRICS}), user_is_admin=False)
    Identity("root", admin=True).check_may_grant(
        "prom", frozenset({Scope.READ, Scope.METRICS}), user_is_admin=False
    )


async def test_the_grafana_dashboard_asks_only_for_metrics_that_exist(
    parts: tuple[WorkspaceStore, PlatformMetrics],
) -> None:
    _, metrics = parts
    exported = {s[0] for s in samples(await metrics.render())}
    dashboard = json.loads(DASHBOARD.read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"tidepool_[a-z_]+", target["expr"])
    }
    assert asked and asked <= exported, asked - exported
