"""``/api/me/idle-timeout``: a user chooses their own idle timeout within the admin's bounds;
a choice outside them, or from a token that may not change all their workspaces, is refused,
audited and changes nothing. The real authenticator, sessions and tokens are in front."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.signed_in import SignedInApi, signed_in_api
from tidepool.auth.idle_choices import IdleChoices
from tidepool.domain.activity import IdleBounds
from tidepool.domain.audit import AuditQuery, Outcome
from tidepool.domain.identity import Scope

PASSWORDS = {"ann": "ann-password", "bob": "bob-password"}
URL = "/api/me/idle-timeout"
BOUNDS = IdleBounds(10, 240)


@pytest.fixture
def choices(tmp_path: Path) -> IdleChoices:
    return IdleChoices(tmp_path / "idle.json", BOUNDS, 30)


@pytest.fixture
async def api(tmp_path: Path, choices: IdleChoices) -> AsyncIterator[SignedInApi]:
    async with signed_in_api(tmp_path, PASSWORDS, idle_choices=choices) as made:
        yield made


async def test_a_user_chooses_sees_and_forgets_their_timeout(
    api: SignedInApi, choices: IdleChoices
) -> None:
    csrf = await api.sign_in("ann")
    shown = (await api.http.get(URL)).json()
    assert shown == {
        "minutes": None,
        "default_minutes": 30,
        "may_choose": True,
        "min_minutes": 10,
        "max_minutes": 240,
    }
    chosen = await api.http.put(URL, json={"minutes": 90}, headers=csrf)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["minutes"] == 90 and choices.chosen("ann") == 90
    assert choices.chosen("bob") is None
    forgotten = await api.http.delete(URL, headers=csrf)
    assert forgotten.status_code == 200 and forgotten.json()["minutes"] is None
    actions = [(e.action, e.outcome) for e in api.audit.entries(AuditQuery())[0]]
    assert ("idle_timeout.set", Outcome.OK) in actions
    assert ("idle_timeout.reset", Outcome.OK) in actions


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"minutes": 5}, 409),
        ({"minutes": 241}, 409),
        ({"minutes": 0}, 422),
        ({"minutes": "1h"}, 422),
        ({"minutes": 60, "user": "bob"}, 422),
        ({}, 422),
    ],
)
async def test_a_bad_choice_is_refused_and_changes_nothing(
    api: SignedInApi, choices: IdleChoices, body: dict[str, object], status: int
) -> None:
    csrf = await api.sign_in("ann")
    assert (await api.http.put(URL, json={"minutes": 60}, headers=csrf)).status_code == 200
    refused = await api.http.put(URL, json=body, headers=csrf)
    assert refused.status_code == status, refused.text
    if status == 409:
        assert "10 to 240 minutes" in refused.json()["detail"]
    assert choices.chosen("ann") == 60


async def test_tokens_that_may_not_change_every_workspace_are_refused(
    api: SignedInApi, choices: IdleChoices
) -> None:
    read_only, _ = api.tokens.create("ann", scopes=frozenset({Scope.READ}))
    limited, _ = api.tokens.create("ann", workspaces=frozenset({"alpha"}))
    full, _ = api.tokens.create("ann")
    for token in (read_only, limited):
        headers = {"Authorization": f"Bearer {token}"}
        assert (await api.http.get(URL, headers=headers)).status_code == 200
        refused = await api.http.put(URL, json={"minutes": 60}, headers=headers)
        assert refused.status_code == 403 and "idle timeout" in refused.json()["detail"]
    assert choices.chosen("ann") is None
    denied = [e for e in api.audit.entries(AuditQuery())[0] if e.outcome is Outcome.DENIED]
    assert [e.action for e in denied] == ["idle_timeout.set"] * 2
    allowed = await api.http.put(
        URL, json={"minutes": 60}, headers={"Authorization": f"Bearer {full}"}
    )
    assert allowed.status_code == 200 and choices.chosen("ann") == 60


async def test_no_one_signed_in_and_no_store_are_refused(tmp_path: Path) -> None:
    async with signed_in_api(tmp_path, PASSWORDS) as api:
        csrf = await api.sign_in("ann")
        missing = await api.http.put(URL, json={"minutes": 60}, headers=csrf)
        assert missing.status_code == 404
        api.http.cookies.clear()
        assert (await api.http.get(URL)).status_code == 401
