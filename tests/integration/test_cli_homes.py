"""``tidepool snapshot ...`` and ``tidepool workspace rebuild|fork|undelete``: the real CLI, as
root on the host, against an API on its socket over the in-memory home plane. What each
prints, what it asks the API, and a bad name refused before any request."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli_host import cli_host, run_cli
from support.homes_plane import ANN, Plane
from tidepool.domain.home import REPLACES, RESTORE, home_of
from tidepool.domain.workspace import Action


async def test_snapshots_rebuild_fork_and_undelete_from_the_cli(tmp_path: Path) -> None:
    plane = Plane()
    await plane.running("anns")
    home = home_of((await plane.store.get("anns")).runtime_state)
    async with cli_host(tmp_path / "data", plane.workspaces, plane.store, homes=plane.homes) as env:
        code, out = await run_cli(env, "snapshot", "create", "anns", "first")
        assert code == 0 and "Snapshot first of anns taken" in out, out
        code, out = await run_cli(env, "snapshot", "list", "anns", "--json", folded=False)
        assert code == 0 and [s["name"] for s in json.loads(out)] == ["first"]

        code, out = await run_cli(env, "snapshot", "create", "anns", "auto-mine")
        assert code != 0 and "not a snapshot name" in out, out
        assert [s.name for s in await plane.volumes.snapshots(home)] == ["first"]

        code, out = await run_cli(env, "snapshot", "restore", "anns", "first", "--no-wait")
        assert code == 0, out
        assert (await plane.store.get("anns")).runtime_state[RESTORE]["snapshot"] == "first"
        await plane.settle(await plane.store.get("anns"))

        code, out = await run_cli(env, "workspace", "rebuild", "anns", "--no-wait", "--json")
        assert code == 0 and json.loads(out)["name"] == "anns", out
        assert REPLACES in (await plane.store.get("anns")).runtime_state
        await plane.settle(await plane.store.get("anns"))

        code, out = await run_cli(env, "workspace", "fork", "anns", "Bad Name")
        assert code != 0 and "name" in out.lower(), out
        code, out = await run_cli(env, "workspace", "fork", "anns", "anns-2", "--no-wait")
        assert code == 0 and "anns-2" in out, out

        code, out = await run_cli(env, "workspace", "undelete", "never-made")
        assert code != 0 and "No deleted workspace named 'never-made'" in out, out
        await plane.settle(await plane.workspaces.request("anns", Action.DELETE, who=ANN))
        code, out = await run_cli(env, "workspace", "undelete", "anns", "--no-wait", "--json")
        assert code == 0 and json.loads(out)["owner"] == "ann", out

        code, out = await run_cli(env, "snapshot", "delete", "anns-2", "nothing")
        assert code != 0 and "'anns-2' has no home yet: it is pending" in out, out
        await plane.settle(await plane.store.get("anns-2"))
        code, out = await run_cli(env, "snapshot", "delete", "anns-2", "nothing")
        assert code != 0 and "has no snapshot 'nothing'" in out, out
