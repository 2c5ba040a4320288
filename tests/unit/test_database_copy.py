"""``tidepool database copy``: every row carried over exactly, or nothing written at all.

SQLite to SQLite on temporary files (PostgreSQL is in ``tests/integration``): the workspaces,
their events and jobs read back identical through the store; a target with rows, the same
database twice, a bad URL and a running ``serve`` are each refused with a clear message, a
non-zero exit and both databases as they were. URLs are printed with the password masked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.database_copy import contents, fill
from tidepool.cli.app import app
from tidepool.errors import ConflictError, InvalidInputError
from tidepool.store.copy import copy_database, masked, same_database
from tidepool.store.sql import open_store


def sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


async def test_every_workspace_event_and_job_is_copied_as_it_was(tmp_path: Path) -> None:
    source, target = sqlite(tmp_path / "old.db"), sqlite(tmp_path / "new" / "new.db")
    before = await fill(source)

    report = copy_database(source, target, batch_rows=2)  # several batches per table

    assert report.rows == {"workspaces": 3, "jobs": 3, "workspace_events": 6}
    after = await contents(target)
    assert after == before
    assert {w.name: w.runtime_state.get("instance") for w in after.workspaces} == {
        "alpha": "tp-alpha-1a2b",
        "beta": "b",
        "gone": None,
    }
    assert await contents(source) == before  # the source is only read


async def test_a_new_event_in_the_copy_comes_after_every_copied_one(tmp_path: Path) -> None:
    source, target = sqlite(tmp_path / "old.db"), sqlite(tmp_path / "new.db")
    before = await fill(source)
    copy_database(source, target)
    store, queue = open_store(target)
    try:
        await store.add_event(before.workspaces[0].id, "log", "after the move")
        assert await store.latest_event_seq() == max(e.seq for e in before.events) + 1
    finally:
        await queue.aclose()


async def test_a_target_with_rows_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    source, target = sqlite(tmp_path / "old.db"), sqlite(tmp_path / "full.db")
    await fill(source)
    theirs = await fill(target)

    with pytest.raises(ConflictError, match="not empty"):
        copy_database(source, target)

    assert await contents(target) == theirs


async def test_the_same_database_twice_is_refused(tmp_path: Path) -> None:
    source = sqlite(tmp_path / "old.db")
    before = await fill(source)
    also_source = f"sqlite:///{tmp_path}/./sub/../old.db"

    with pytest.raises(InvalidInputError, match="same database"):
        copy_database(source, also_source)

    assert await contents(source) == before


def test_a_missing_source_is_refused_not_created(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no database"):
        copy_database(sqlite(tmp_path / "none.db"), sqlite(tmp_path / "new.db"))
    assert not (tmp_path / "none.db").exists()
    assert not (tmp_path / "new.db").exists()


def test_urls_are_printed_without_their_password() -> None:
    assert masked("postgresql://tp:s3cret@db.internal/tp") == "postgresql://tp:***@db.internal/tp"
    assert same_database("postgresql://a:x@h/db", "postgres://b:y@h:5432/db")
    assert not same_database("postgresql://a:x@h/db", "postgresql://a:x@h/other")


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("TIDEPOOL_DATA_DIR", str(data))
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("TIDEPOOL_DATABASE_URL", raising=False)
    return data


def copy(*argv: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["database", "copy", *argv])
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


async def test_the_command_copies_and_prints_rows_per_table(data_dir: Path) -> None:
    before = await fill(sqlite(data_dir / "tidepool.db"))
    target = sqlite(data_dir.parent / "new.db")

    code, output = copy("--to", target)

    assert code == 0, output
    assert "workspaces │ 3" in output and "workspace_events │ 6" in output
    assert "TIDEPOOL_DATABASE_URL" in output
    assert await contents(target) == before


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u:hunter2@db/tp", "Unsupported database URL scheme"),
        ("postgresql://u:hunter2@[::1/tp", "is not a database URL"),
        ("postgresql://u:hunter2@db:port/tp", "is not a database URL"),
        ("sqlite://", "names no file"),
    ],
)
async def test_the_command_refuses_bad_urls(data_dir: Path, to: str, message: str) -> None:
    before = await fill(sqlite(data_dir / "tidepool.db"))

    code, output = copy("--to", to)

    assert code == 1
    assert message in output
    assert "hunter2" not in output and "Traceback" not in output
    assert await contents(sqlite(data_dir / "tidepool.db")) == before


async def test_the_command_refuses_the_current_database_and_a_full_one(data_dir: Path) -> None:
    before = await fill(sqlite(data_dir / "tidepool.db"))
    full = sqlite(data_dir.parent / "full.db")
    theirs = await fill(full)

    same = copy("--to", sqlite(data_dir / "tidepool.db"))
    not_empty = copy("--to", full)

    assert same[0] == 1 and "same database" in same[1]
    assert not_empty[0] == 1 and "not empty" in not_empty[1]
    assert await contents(sqlite(data_dir / "tidepool.db")) == before
    assert await contents(full) == theirs


@pytest.fixture
def serving(data_dir: Path) -> Iterator[None]:
    """A process that holds the data directory's serve lock as ``serve`` does."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from tidepool.host.service import serve_lock\n"
            "with serve_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    try:
        yield
    finally:
        os.kill(holder.pid, signal.SIGTERM)
        holder.wait(timeout=10)
        holder.stdout.close()


async def test_the_command_refuses_while_serve_runs(data_dir: Path, serving: None) -> None:
    before = await fill(sqlite(data_dir / "tidepool.db"))
    target = data_dir.parent / "new.db"

    started = time.monotonic()
    code, output = copy("--to", sqlite(target))

    assert code == 1
    assert "tidepool service stop" in output
    assert time.monotonic() - started < 10  # a serve is refused at once, not waited for
    assert not target.exists()
    assert await contents(sqlite(data_dir / "tidepool.db")) == before
