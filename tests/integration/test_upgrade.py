"""An upgrade from a landed version keeps every workspace and what is in it.

The older commit is checked out from this repository's own history and run as it was (its
source first on the path, the same interpreter and packages). It makes a workspace both ways
it could: by hand (``vm start``, as its ``scripts/up`` made ``test``) and through its
``serve``; a file is written in each. Then today's README command, ``./scripts/up NAME``, runs
on the same data directory. Every workspace must be listed and running, on its own instance
(no second one made), with its file byte-identical and its IDE answering.

One case per landed version that changed the database or the naming: 0857b9c (instances
named after their workspace, no rows for by-hand ones) and 910b8ef (the last before
instances recorded their owner). Add the next such version here.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from support import leftovers
from support.ports import free_port
from support.serve import ROOT, ServeProcess, delete_and_wait, wait_for_status
from tidepool import bootstrap
from tidepool.errors import NotFoundError
from tidepool.ports import Runtime
from tidepool.settings import get_settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
BY_HAND = "oldhand"
THROUGH_SERVE = "keepme"
MARK = "/var/tmp/upgrade-mark.txt"


@pytest.fixture
def older(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """The older commit's source tree, checked out beside this one (a clone of this
    repository carries its history; one made with ``--depth`` cannot run this test)."""
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{request.param}^{{commit}}"], cwd=ROOT, capture_output=True
    )
    assert known.returncode == 0, f"this clone has no history of {request.param}: clone it whole"
    tree = tmp_path / "older"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), request.param],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    async with bootstrap.opened_runtime(get_settings()) as rt:
        yield rt


def environment(serve: ServeProcess, source: Path | None = None) -> dict[str, str]:
    """The platform's settings for this test's installation; ``source``: run that code."""
    env = {**serve.env(), "TIDEPOOL_IMAGE_ALIAS": get_settings().image_alias}
    env.pop("PYTHONPATH", None)
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def stop_service(python: str, env: dict[str, str]) -> None:
    """The background platform ``scripts/up`` left, stopped (a no-op when it did not run)."""
    subprocess.run([python, "-m", "tidepool.cli", "service", "stop"], env=env, check=False)


async def instance_at(runtime: Runtime, address: str) -> str:
    for instance in await runtime.list():
        if instance.ipv4 == address:
            return instance.name
    raise AssertionError(f"no instance has {address}")


async def mark(runtime: Runtime, instance: str, text: str) -> None:
    wrote = await runtime.exec(instance, ["sh", "-c", f"printf %s '{text}' > {MARK}"])
    assert wrote.ok, wrote


@pytest.mark.parametrize("older", ["0857b9c", "910b8ef"], indirect=True)
async def test_an_upgrade_keeps_every_workspace_and_its_files(
    older: Path, tmp_path: Path, runtime: Runtime
) -> None:
    serve = ServeProcess(tmp_path / "data", free_port(), f"sqlite:///{tmp_path / 'tp.db'}", "tpu")
    leftovers.STARTED.append(serve.data_dir)
    python = str(ROOT / ".venv" / "bin" / "python")
    current = environment(serve)
    serve.extra_env = {
        "PYTHONPATH": str(older / "src"),
        "TIDEPOOL_IMAGE_ALIAS": current["TIDEPOOL_IMAGE_ALIAS"],
    }
    try:
        # The older version: a workspace by hand, then one through its serve.
        address = run(
            [python, "-m", "tidepool.cli", "vm", "start", "-n", BY_HAND], environment(serve, older)
        ).split()[-1]
        await mark(runtime, await instance_at(runtime, address), "made by hand")
        serve.start()
        async with serve.api() as api:
            await api.create(THROUGH_SERVE)
            made = await wait_for_status(api, THROUGH_SERVE, {"running", "failed"})
            assert made["status"] == "running", made
            await mark(runtime, await instance_at(runtime, made["address"]), "made by serve")
        assert serve.stop() == 0
        before = {i.name for i in await runtime.list()}

        # Today's README command, on the same data directory.
        run(["./scripts/up", BY_HAND], current)

        serve.extra_env = {}
        async with serve.api() as api:
            listed = {w["name"]: w for w in (await api.list())["items"]}
            assert set(listed) == {BY_HAND, THROUGH_SERVE}, listed
            for name, text in ((BY_HAND, "made by hand"), (THROUGH_SERVE, "made by serve")):
                workspace = await wait_for_status(api, name, {"running", "failed"})
                assert workspace["status"] == "running", workspace
                kept = await runtime.exec(
                    await instance_at(runtime, workspace["address"]), ["cat", MARK]
                )
                assert kept.stdout == text, (name, kept)
                assert await serve.ide_status(name) == 200
            assert {i.name for i in await runtime.list()} == before, "no instance made or lost"
            for name in listed:
                await delete_and_wait(api, name)
    finally:
        stop_service(python, current)
        if serve.process is not None and serve.process.poll() is None:
            serve.stop()
        with contextlib.suppress(NotFoundError):
            await runtime.delete(BY_HAND)
