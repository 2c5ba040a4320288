"""Password guessing against sign-in, played by an attacker with one address or many.

The attacker wants either to guess (many names from one address, one name from many) or to
lock someone else out (fail in their name). Failures count per (name, address) and per
address, so the guesser waits and the victim, from her own address, does not. Whatever is
sent, the failure table stays within its bound. The address is what Caddy puts in
``X-Tidepool-Client``, never a header the client wrote.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.users import write_users
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.ratelimit import SignInLimiter, address_key
from tidepool.auth.sessions import SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.edge import CLIENT_HEADER, VIA_HEADER
from tidepool.errors import InvalidInputError
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}
A = "198.51.100.7"
B = "203.0.113.9"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


# --- the limiter on its own ---------------------------------------------------------------


def test_failures_from_one_address_do_not_lock_the_name_elsewhere() -> None:
    clock = Clock()
    limiter = SignInLimiter(clock=clock)
    for _ in range(5):
        assert limiter.retry_after("alice", A) == 0
        limiter.failed("alice", A)
    assert limiter.retry_after("alice", A) == pytest.approx(300)
    assert limiter.retry_after("alice", B) == 0
    assert limiter.retry_after("bob", A) == 0
    clock.now += 300
    assert limiter.retry_after("alice", A) == 0


def test_a_spray_of_names_from_one_address_hits_the_address_budget() -> None:
    clock = Clock()
    limiter = SignInLimiter(clock=clock)
    for i in range(20):
        assert limiter.retry_after(f"user{i}", A) == 0
        limiter.failed(f"user{i}", A)
        clock.now += 1
    assert limiter.retry_after("someone-new", A) == pytest.approx(300 - 20)
    assert limiter.retry_after("alice", A) > 0
    assert limiter.retry_after("someone-new", B) == 0


def test_signing_in_to_ones_own_account_does_not_refill_the_address_budget() -> None:
    limiter = SignInLimiter(max_failures_per_address=3, clock=Clock())
    for name in ("ann", "bob"):
        limiter.failed(name, A)
    limiter.succeeded("mallory", A)
    limiter.failed("cat", A)
    assert limiter.retry_after("dan", A) > 0


def test_the_right_password_forgets_that_names_failures_from_that_address() -> None:
    limiter = SignInLimiter(max_failures=2, clock=Clock())
    limiter.failed("alice", A)
    limiter.succeeded("alice", A)
    limiter.failed("alice", A)
    assert limiter.retry_after("alice", A) == 0


def test_many_addresses_cannot_grow_the_table_past_its_bound() -> None:
    clock = Clock()
    limiter = SignInLimiter(max_entries=100, clock=clock)
    for i in range(10_000):
        limiter.failed(f"name{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        assert len(limiter) <= 100
    # The newest entries are kept: the last address is still counted.
    last = f"10.0.{9_999 // 256}.{9_999 % 256}"
    limiter.failed("name9999", last)
    limiter.failed("name9999", last)
    limiter.failed("name9999", last)
    limiter.failed("name9999", last)
    assert limiter.retry_after("name9999", last) > 0


def test_expired_failures_leave_the_table() -> None:
    clock = Clock()
    limiter = SignInLimiter(clock=clock)
    limiter.failed("alice", A)
    clock.now += 301
    assert limiter.retry_after("alice", A) == 0
    assert len(limiter) == 0


def test_an_ipv6_client_counts_as_its_whole_64() -> None:
    limiter = SignInLimiter(max_failures_per_address=2, clock=Clock())
    limiter.failed("ann", "2001:db8:1:2::1")
    limiter.failed("bob", "2001:db8:1:2:ffff::9")
    assert limiter.retry_after("cat", "2001:db8:1:2::abcd") > 0
    assert limiter.retry_after("cat", "2001:db8:1:3::1") == 0
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("local") == "local"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_failures": 0},
        {"max_failures_per_address": 0},
        {"window_seconds": 0},
        {"max_entries": 1},
    ],
)
def test_limits_that_would_refuse_everyone_or_nothing_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(InvalidInputError):
        SignInLimiter(**kwargs)  # type: ignore[arg-type]


# --- through the API, as Caddy forwards it ------------------------------------------------


@dataclass
class Api:
    http: httpx.AsyncClient
    clock: Clock


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    clock = Clock()
    users = write_users(tmp_path / "users.json", PASSWORDS, frozenset())
    auth = Authenticator(
        users=users,
        sessions=SessionStore(tmp_path / "sessions.json", 3600, clock),
        tokens=TokenStore(tmp_path / "tokens.json", clock),
        limiter=SignInLimiter(clock=clock),
    )
    store = memory_store()[0]
    plane = ControlPlane(
        WorkspaceService(store, default_image="img"),
        store,
        "http://tidepool.test",
        admins=users.admins,
        authenticator=auth,
    )
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://tidepool.test", headers={VIA_HEADER: "caddy"}
    ) as http:
        yield Api(http, clock)


async def attempt(
    api: Api, name: str, password: str, address: str, **headers: str
) -> httpx.Response:
    return await api.http.post(
        "/api/auth/login",
        json={"name": name, "password": password},
        headers={CLIENT_HEADER: address, **headers},
    )


async def test_five_wrong_passwords_from_a_do_not_stop_alice_from_b(api: Api) -> None:
    for _ in range(5):
        assert (await attempt(api, "alice", "a-wrong-guess", A)).status_code == 401
    from_a = await attempt(api, "alice", PASSWORDS["alice"], A)
    from_b = await attempt(api, "alice", PASSWORDS["alice"], B)
    assert from_a.status_code == 429 and "set-cookie" not in from_a.headers
    assert 0 < int(from_a.headers["retry-after"]) <= 301
    assert from_b.status_code == 200 and "set-cookie" in from_b.headers


async def test_a_spray_of_names_from_one_address_is_stopped(api: Api) -> None:
    codes = [(await attempt(api, f"user{i}", "a-wrong-guess", A)).status_code for i in range(25)]
    assert codes == [401] * 20 + [429] * 5
    assert (await attempt(api, "bob", PASSWORDS["bob"], A)).status_code == 429
    assert (await attempt(api, "bob", PASSWORDS["bob"], B)).status_code == 200
    api.clock.now += 301
    assert (await attempt(api, "bob", PASSWORDS["bob"], A)).status_code == 200


async def test_a_forged_forwarded_for_changes_nothing(api: Api) -> None:
    for i in range(5):
        forged = {"X-Forwarded-For": f"192.0.2.{i}"}
        assert (await attempt(api, "alice", "a-wrong-guess", A, **forged)).status_code == 401
    forged = {"X-Forwarded-For": B}
    assert (await attempt(api, "alice", PASSWORDS["alice"], A, **forged)).status_code == 429
