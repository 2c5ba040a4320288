"""Schemathesis over every operation of ``/api``, in process, on fakes.

Each test sends generated requests (valid and invalid) to the real app, built as ``serve``
builds it with sign-in on (``forward_auth``), over the in-memory store: no incusd, no Caddy,
no socket. Every answer must be no 5xx, must match what the OpenAPI schema declares (status,
content type, body), and every 4xx must be ``application/problem+json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import CheckContext
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from starlette.types import ASGIApp

from support.users import write_users
from tidepool.adapters.fakes.sessions import InMemorySessionMap
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.audit import AuditLog
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.domain.identity import EVERY_SCOPE
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

#: Examples per operation and identity; raise it for a longer hunt (see the README).
EXAMPLES = int(os.environ.get("TIDEPOOL_FUZZ_EXAMPLES", "20"))
#: Seconds an event stream is read before the client hangs up (and the app is cancelled):
#: streams never end by themselves, and the first chunk comes at once.
STREAM_SECONDS = 0.2
#: Any other answer comes well inside this, or the test fails.
ANSWER_SECONDS = 10.0
PASSWORDS = {"root": "root-password", "ann": "ann-password"}


@dataclass(frozen=True)
class FuzzedApi:
    app: ASGIApp
    #: ``Authorization`` headers of an admin's token (every scope) and a plain user's.
    admin: dict[str, str]
    user: dict[str, str]


@pytest.fixture
def fuzzed_api(tmp_path: Path) -> FuzzedApi:
    users = write_users(tmp_path / "users.json", PASSWORDS, frozenset({"root"}))
    tokens = TokenStore(tmp_path / "tokens.json")
    audit = AuditLog(tmp_path / "audit.log")
    auth = Authenticator(users, SessionStore(tmp_path / "sessions.json"), tokens, SignInLimiter())
    store = memory_store()[0]
    plane = ControlPlane(
        WorkspaceService(store, default_image="img", audit=audit),
        store,
        "http://tidepool.test",
        event_poll=0.05,
        admins=users.admins,
        authenticator=auth,
        session_cache=InMemorySessionMap(),
        audit=audit,
    )
    admin, _ = tokens.create("root", "fuzz", scopes=EVERY_SCOPE)
    user, _ = tokens.create("ann", "fuzz")
    return FuzzedApi(
        create_app(plane),
        admin={"Authorization": f"Bearer {admin}"},
        user={"Authorization": f"Bearer {user}"},
    )


def schema_app() -> ASGIApp:
    """An app to read the schema from: its routes are every app's, whatever the settings.

    Loaded at import because ``schemathesis.pytest.from_fixture`` reads pytest's private
    ``Node._nodeid``, which pytest 9.2 no longer has; each test sends its cases to an app of
    its own (``fuzzed_api``) instead.
    """
    store = memory_store()[0]
    return create_app(ControlPlane(WorkspaceService(store, default_image="img"), store, "http://t"))


#: Explicit, so a ``schemathesis.toml`` nowhere changes what CI runs. A body over the limit is
#: refused (413) before it is read, whatever it holds: a rejection like any other.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "409", "413", "422", "429"]
            }
        }
    }
)
schema = schemathesis.openapi.from_asgi("/api/openapi.json", schema_app(), config=CONFIG)


def problem_json_for_4xx(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx is RFC 9457 ``application/problem+json`` with a status and a detail."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/problem+json"), (
        f"{response.status_code} answered as {content_type!r}"
    )
    body = response.json()
    assert body["status"] == response.status_code and body["detail"], body
    return True


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # One app per operation on purpose: its examples meet the state the earlier ones left,
    # as requests to a running server do.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


def call(case: Case, api: FuzzedApi, headers: dict[str, str]) -> None:
    """Send ``case`` to ``api`` and run every check on the answer (schemathesis's own and
    ``problem_json_for_4xx``); a failing check raises with a ``curl`` to reproduce it."""
    streams = case.path.endswith("/events")
    case.call_and_validate(
        app=api.app,
        headers=headers,
        timeout=STREAM_SECONDS if streams else ANSWER_SECONDS,
        additional_checks=[problem_json_for_4xx],
    )


@schema.parametrize()
@FUZZ_SETTINGS
def test_as_an_admin(case: Case, fuzzed_api: FuzzedApi) -> None:
    call(case, fuzzed_api, fuzzed_api.admin)


@schema.parametrize()
@FUZZ_SETTINGS
def test_as_a_user(case: Case, fuzzed_api: FuzzedApi) -> None:
    call(case, fuzzed_api, fuzzed_api.user)
