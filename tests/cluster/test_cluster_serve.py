"""Tidepool on an Incus cluster, end to end: ``tidepool host join`` into a restricted project
on a two-member cluster, ``serve`` placing workspaces by committed memory, each recording its
member, opening through the edge Caddy in a real browser, keeping its member across a stop
and a start, moving with ``tidepool workspace move``, and waiting ``unavailable`` while
its member is away.

The edge is this host's Caddy; each member's routed bridge is reached through that member
(``support.incus_cluster``), the shape ``docs/scale-out.md`` describes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from support.cli import tidepool
from support.incus_cluster import WORKSPACE_BRIDGE, IncusCluster
from support.serve import ServeProcess, delete_and_wait, running_serve, wait_for_status

pytestmark = [pytest.mark.incus, pytest.mark.cluster, pytest.mark.e2e]
PROJECT, CLIENT = "tidepool", "tidepool-serve"
SETTINGS = {
    "TIDEPOOL_STORAGE_POOL": "data",
    "TIDEPOOL_CLUSTER_BRIDGE": WORKSPACE_BRIDGE,
    "TIDEPOOL_PLACEMENT": "least_memory",
}


@pytest.fixture(scope="module")
def serve(
    cluster: IncusCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """A serve joined to the cluster's ``tidepool`` project (as docs/scale-out.md has an
    operator make it, with bridged NICs allowed for the routed bridges)."""
    first = cluster.first
    first.incus(
        "project", "create", PROJECT,
        "-c", "features.images=false", "-c", "features.profiles=true",
        "-c", "restricted=true", "-c", "restricted.cluster.target=allow",
        "-c", "restricted.devices.nic=allow",
    )  # fmt: skip
    data = tmp_path_factory.mktemp("cluster-serve") / "data"
    try:
        token = first.incus("config", "trust", "add", CLIENT, "--projects", PROJECT, "-q")
        env = {**ServeProcess(data, 8080, "").env(), **SETTINGS}
        joined = tidepool("host", "join", cluster.url, token, "--project", PROJECT, env=env)
        assert joined.returncode == 0, joined.stderr
        with running_serve(
            data, f"sqlite:///{data / 'tidepool.db'}", prefix="tpk", extra_env=SETTINGS
        ) as made:
            yield made
    finally:
        for line in first.incus("list", "--project", PROJECT, "-f", "csv", "-c", "n").splitlines():
            first.incus("delete", "-f", line, "--project", PROJECT, check=False)
        first.incus("profile", "delete", "tidepool", "--project", PROJECT, check=False)
        first.incus("project", "delete", PROJECT, check=False)
        for certificate in json.loads(first.incus("query", "/1.0/certificates?recursion=1")):
            if certificate["name"] == CLIENT:
                first.incus("config", "trust", "remove", certificate["fingerprint"])


async def test_workspaces_spread_open_through_the_edge_keep_their_member_and_move(
    cluster: IncusCluster, serve: ServeProcess, browser: Browser, artifacts: Path
) -> None:
    async with serve.api() as api:
        placed = {}
        for name in ("one", "two"):
            await api.create(name)
            placed[name] = await wait_for_status(api, name, {"running"}, 300)
        # Committed memory spreads them: the second goes where the first is not.
        assert {w["location"] for w in placed.values()} == {"node1", "node2"}, placed
        for workspace in placed.values():
            subnet = "10.77.1." if workspace["location"] == "node1" else "10.77.2."
            assert workspace["address"].startswith(subnet), workspace

        # Through the edge Caddy, in a real browser, on either member.
        page = await browser.new_page()
        try:
            for workspace in placed.values():
                await page.goto(workspace["url"])
                await page.locator(".monaco-workbench").wait_for(timeout=90_000)
            await page.screenshot(path=artifacts / "cluster-workbench.png")
        finally:
            await page.close()

        # A stop and a start keep the member.
        two = placed["two"]
        await api.act("two", "stop")
        await wait_for_status(api, "two", {"stopped"}, 120)
        await api.act("two", "start")
        again = await wait_for_status(api, "two", {"running"}, 300)
        assert again["location"] == two["location"]

        # A move, from the command line: refused while running, then done once stopped.
        other = "node1" if two["location"] == "node2" else "node2"
        refused = tidepool("workspace", "move", "two", "--to", other, env=serve.env())
        assert refused.returncode != 0 and "stop it before moving it" in refused.stderr
        await api.act("two", "stop")
        await wait_for_status(api, "two", {"stopped"}, 120)
        moved = tidepool("workspace", "move", "two", "--to", other, "--json", env=serve.env())
        assert moved.returncode == 0, moved.stderr
        assert json.loads(moved.stdout)["location"] == other
        await api.act("two", "start")
        there = await wait_for_status(api, "two", {"running"}, 300)
        assert there["location"] == other
        assert await serve.ide_status("two") == 200

        # A member goes away: its workspace is unavailable, not failed, and the others keep
        # working; it comes back with its member.
        await api.create("three")
        three = await wait_for_status(api, "three", {"running"}, 300)
        assert three["location"] != other  # the member with nothing promised yet
        away = next(m for m in cluster.members if m.name == three["location"])
        away.kill_daemon()
        try:
            gone = await wait_for_status(api, "three", {"unavailable", "failed"}, 120)
            assert gone["status"] == "unavailable", gone
            assert f"{away.name} is offline" in gone["error"]
            assert await serve.ide_status("one") == 200
            await api.create("four")
            four = await wait_for_status(api, "four", {"running"}, 300)
            assert four["location"] == other
        finally:
            away.spawn_daemon()
        back = await wait_for_status(api, "three", {"running"}, 300)
        assert back["location"] == away.name and back["error"] == ""
        assert await serve.ide_status("three") == 200

        for name in ("one", "two", "three", "four"):
            await delete_and_wait(api, name)
