"""One suite over the in-memory route table and the real CaddyRouteTable."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from support.caddy import private_caddy
from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.errors import InvalidInputError, NotFoundError
from tidepool.ports import RouteTable


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


async def test_replace_all_is_exact(table: RouteTable) -> None:
    await table.add("old", "10.1.0.2")
    await table.replace_all({"a": "10.1.0.5", "b": "10.1.0.6"})
    assert await table.list() == {"a": "10.1.0.5", "b": "10.1.0.6"}
    await table.replace_all({})
    assert await table.list() == {}


async def test_bad_input_is_refused_and_changes_nothing(table: RouteTable) -> None:
    await table.add("alpha", "10.1.0.2")
    for name, address in [("Alpha", "10.1.0.3"), ("alpha", "nope"), ("api", "10.1.0.3")]:
        with pytest.raises(InvalidInputError):
            await table.add(name, address)
    with pytest.raises(InvalidInputError):
        await table.replace_all({"ok": "10.1.0.3", "../x": "10.1.0.4"})
    assert await table.list() == {"alpha": "10.1.0.2"}
