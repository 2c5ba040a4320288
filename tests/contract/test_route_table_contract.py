"""One suite over the in-memory route table and the real CaddyRouteTable."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from support.caddy import private_caddy
from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.domain.routing import Route, RoutePlan
from tidepool.errors import InvalidInputError, NotFoundError
from tidepool.ports import RouteTable
from tidepool.services.routing import apply_route_plan


@pytest.fixture(params=["memory", pytest.param("caddy", marks=pytest.mark.caddy)])
async def table(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RouteTable]:
    if request.param == "memory":
        yield InMemoryRouteTable()
        return
    async with private_caddy(tmp_path_factory.mktemp("caddy-contract")) as (_, routes):
        yield routes


async def test_starts_empty_and_lists_what_was_added(table: RouteTable) -> None:
    assert await table.list() == {}
    assert await table.add("alpha", "10.1.0.2") is True
    assert await table.add("beta", "10.1.0.3") is True
    assert await table.list() == {"alpha": "10.1.0.2", "beta": "10.1.0.3"}


async def test_adding_the_same_route_is_a_no_op(table: RouteTable) -> None:
    await table.add("alpha", "10.1.0.2")
    assert await table.add("alpha", "10.1.0.2") is False
    assert await table.add("alpha", "10.1.0.9") is True
    assert await table.list() == {"alpha": "10.1.0.9"}


async def test_remove_and_remove_again(table: RouteTable) -> None:
    await table.add("alpha", "10.1.0.2")
    await table.remove("alpha")
    assert await table.list() == {}
    with pytest.raises(NotFoundError):
        await table.remove("alpha")


async def test_owners_are_kept_and_changed_with_their_routes(table: RouteTable) -> None:
    await table.add("alpha", "10.1.0.2", "ann")
    await table.add("beta", "10.1.0.3")
    assert await table.entries() == {
        "alpha": Route("10.1.0.2", "ann"),
        "beta": Route("10.1.0.3", ""),
    }
    assert await table.add("alpha", "10.1.0.2", "bob") is True, "a new owner is a change"
    assert (await table.entries())["alpha"] == Route("10.1.0.2", "bob")
    await table.remove("alpha")
    await table.add("alpha", "10.1.0.2")
    assert (await table.entries())["alpha"] == Route("10.1.0.2", ""), "no owner outlives a route"


async def test_a_route_plan_applied_makes_the_table_exact(table: RouteTable) -> None:
    await table.add("old", "10.1.0.2")
    await table.add("moved", "10.1.0.3", "ann")
    plan = RoutePlan(
        add={"a": Route("10.1.0.5", "ann")},
        change={"moved": Route("10.1.0.4", "ann")},
        remove=("old", "never-there"),
    )
    await apply_route_plan(table, plan)
    assert await table.entries() == {
        "a": Route("10.1.0.5", "ann"),
        "moved": Route("10.1.0.4", "ann"),
    }


async def test_bad_input_is_refused_and_changes_nothing(table: RouteTable) -> None:
    await table.add("alpha", "10.1.0.2")
    for name, address in [("Alpha", "10.1.0.3"), ("alpha", "nope"), ("api", "10.1.0.3")]:
        with pytest.raises(InvalidInputError):
            await table.add(name, address)
    for owner in ("../x", "a b", "Ann"):
        with pytest.raises(InvalidInputError):
            await table.add("beta", "10.1.0.3", owner)
    with pytest.raises(InvalidInputError):
        await table.remove("../x")
    assert await table.list() == {"alpha": "10.1.0.2"}
