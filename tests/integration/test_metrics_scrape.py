"""``/api/metrics`` on a real platform (sign-in on, Caddy, Incus): a scraper's token reads it
through the front door and sees a real create's phases; nobody else does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.serve import delete_and_wait, running_serve, wait_for_status
from support.users import write_users
from tidepool.auth.tokens import TokenStore
from tidepool.domain.identity import DEFAULT_SCOPES, Scope

pytestmark = pytest.mark.incus


def phase_counts(text: str) -> dict[str, float]:
    return {
        s.labels["phase"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "tidepool_start_phase_seconds_count"
    }


async def test_a_scraper_sees_a_creates_phases_and_nobody_else_sees_anything(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_users(data / "users.json", {"ann": "ann-password-1"}, frozenset())
    with running_serve(
        data,
        f"sqlite:///{data / 'tp.db'}",
        prefix="tpm",
        extra_env={"TIDEPOOL_AUTH": "forward_auth"},
    ) as serve:
        tokens = TokenStore(data / "tokens.json")
        scraper = tokens.create("ann", scopes=frozenset({Scope.READ, Scope.METRICS}))[0]
        plain = tokens.create("ann", scopes=DEFAULT_SCOPES)[0]
        async with serve.api(user="ann") as api:
            try:
                await api.create("measured")
                await wait_for_status(api, "measured", {"running"})
                async with httpx.AsyncClient(base_url=serve.base_url) as web:
                    answer = await web.get(
                        "/api/metrics", headers={"Authorization": f"Bearer {scraper}"}
                    )
                    anonymous = await web.get("/api/metrics")
                    unscoped = await web.get(
                        "/api/metrics", headers={"Authorization": f"Bearer {plain}"}
                    )
            finally:
                await delete_and_wait(api, "measured")
    assert answer.status_code == 200, answer.text
    counts = phase_counts(answer.text)
    assert counts["instance_created"] >= 1 and counts["running"] >= 1, counts
    assert anonymous.status_code == 401
    assert unscoped.status_code == 403 and "metrics" in unscoped.json()["detail"]
