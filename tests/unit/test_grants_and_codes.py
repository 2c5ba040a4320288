"""Workspace grants on disk and the one-time codes that lead to them."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.auth.grants import GrantStore, grant_source
from tidepool.auth.handshake import CodeClaim, HandshakeCodes
from tidepool.auth.revocation import GrantRevoker
from tidepool.domain.names import WorkspaceName
from tidepool.domain.origins import WorkspaceAddresses, WorkspaceHost
from tidepool.domain.workspace import Status, Workspace
from tidepool.store.memory import memory_store

IDE = WorkspaceHost("alpha", None)
PORT = WorkspaceHost("alpha", 8081)


def test_a_grant_is_a_private_directory_for_its_origin_alone(tmp_path: Path) -> None:
    grants = GrantStore(tmp_path / "grants")
    token = grants.issue(IDE, "ann", grant_source("ab" * 32))
    assert (tmp_path / "grants" / "alpha" / token).is_dir()
    assert stat.S_IMODE((tmp_path / "grants").stat().st_mode) == 0o700
    found = grants.find(IDE, token)
    assert found is not None and (found.user, found.source) == ("ann", "ab" * 8)
    assert grants.find(PORT, token) is None, "the port's origin is another origin"
    assert grants.find(IDE, "*") is None and grants.find(IDE, "../" + token) is None


def test_a_grant_links_its_own_workspaces_routes_whatever_its_port(tmp_path: Path) -> None:
    routes = tmp_path / "routes"
    grants = GrantStore(tmp_path / "grants", routes_dir=routes)
    ide, port = grants.issue(IDE, "ann", "basic"), grants.issue(PORT, "ann", "basic")
    (routes / "alpha").mkdir(parents=True)
    for label, token in (("alpha", ide), ("8081--alpha", port)):
        link = tmp_path / "grants" / label / token / "route"
        assert not Path(link.readlink()).is_absolute()  # the state directory may move
        assert link.resolve() == (routes / "alpha").resolve()
    assert grants.find(IDE, ide) is not None and grants.find(PORT, port) is not None


def test_revoking_deletes_what_keep_refuses_and_what_is_too_old(tmp_path: Path) -> None:
    now = [1_000_000_000.0]
    grants = GrantStore(tmp_path, max_age_seconds=60, clock=lambda: now[0])
    anns = grants.issue(IDE, "ann", "basic")
    bobs = grants.issue(PORT, "bob", "basic")
    gone = grants.revoke(lambda g: g.user != "bob")
    assert [g.user for g in gone] == ["bob"]
    assert grants.find(PORT, bobs) is None and grants.find(IDE, anns) is not None
    now[0] = 4_000_000_000.0  # far past the longest sign-in
    assert [g.user for g in grants.revoke(lambda g: True)] == ["ann"]
    assert list(grants.all()) == []


def test_bad_users_and_sources_never_become_file_names(tmp_path: Path) -> None:
    grants = GrantStore(tmp_path)
    for user, source in (("../x", "basic"), ("ann", "../../etc"), ("Ann", "basic")):
        with pytest.raises(ValueError):
            grants.issue(IDE, user, source)
    assert list(tmp_path.iterdir()) == []


def test_a_code_is_good_once_for_its_origin_only_and_not_for_long() -> None:
    now = [0.0]
    codes = HandshakeCodes(lifetime_seconds=60, clock=lambda: now[0])
    claim = CodeClaim("ann", IDE, "basic")
    code = codes.issue(claim)
    assert codes.redeem(code, PORT) is None, "shown to another origin: spent for nothing"
    assert codes.redeem(code, IDE) is None
    fresh = codes.issue(claim)
    assert codes.redeem(fresh, IDE) == claim
    assert codes.redeem(fresh, IDE) is None, "used once"
    late = codes.issue(claim)
    now[0] = 61.0
    assert codes.redeem(late, IDE) is None, "expired"


def test_a_workspace_origin_is_named_and_read_back_exactly() -> None:
    addresses = WorkspaceAddresses("http://localhost:8080", "localhost", (8081,))
    assert addresses.ide_url("alpha") == "http://alpha.localhost:8080/"
    assert addresses.port_url("alpha", 8081) == "http://8081--alpha.localhost:8080/"
    assert addresses.parse_host("8081--alpha.localhost:8080") == PORT
    assert addresses.parse_host("alpha.localhost") == IDE
    for foreign in ("9999--alpha.localhost", "alpha.localhost.evil", "Alpha_.localhost", "x"):
        assert addresses.parse_host(foreign) is None, foreign
    served_in_place = WorkspaceAddresses("http://10.0.0.5:8080", "", (8081,), paths=True)
    assert served_in_place.ide_url("alpha") == "http://10.0.0.5:8080/workspace/alpha/"


async def test_a_sweep_keeps_only_grants_that_still_have_their_reason(tmp_path: Path) -> None:
    store = memory_store()[0]
    routes = InMemoryRouteTable()
    grants = GrantStore(tmp_path)
    anns = await store.add(Workspace(name="alpha", owner="ann", image="img"))
    await routes.add(WorkspaceName("alpha"), "10.1.2.3", "ann")
    owner = grants.issue(IDE, "ann", "a" * 16)
    admin = grants.issue(PORT, "root", "b" * 16)
    removed = grants.issue(IDE, "eve", "basic")
    signed_out = grants.issue(IDE, "ann", "c" * 16)
    cut: list[tuple[str, int]] = []

    async def cut_connections(address: str, port: int) -> bool:
        cut.append((address, port))
        return True

    admins = {"root"}
    revoker = GrantRevoker(
        grants=grants,
        store=store,
        routes=routes,
        users=lambda: frozenset({"ann", "root"}),
        admins=lambda: frozenset(admins),
        live_sources=lambda: {"a" * 16, "b" * 16},
        cut=cut_connections,
    )
    gone = await revoker.sweep()
    assert {(g.user, g.source) for g in gone} == {("eve", "basic"), ("ann", "c" * 16)}
    assert grants.find(IDE, owner) and grants.find(PORT, admin)
    assert not grants.find(IDE, removed) and not grants.find(IDE, signed_out)
    assert cut == [("10.1.2.3", 8080)], "the IDE's open connections are cut"

    admins.clear()  # root is demoted: alpha is not root's
    assert [g.user for g in await revoker.sweep()] == ["root"]
    assert cut[-1] == ("10.1.2.3", 8081)

    # The name is freed and taken by someone else: the old owner's grant was for another one.
    deleting = await store.save(anns.move_to(Status.DELETING))
    await store.save(deleting.move_to(Status.DELETED))
    later = datetime.now(UTC) + timedelta(seconds=5)
    await store.add(Workspace(name="alpha", owner="bob", image="img", created_at=later))
    assert [g.user for g in await revoker.sweep()] == ["ann"]
    assert list(grants.all()) == []
