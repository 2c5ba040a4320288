"""The audit log: one JSON line per entry, appended, private from its first byte, never
rewritten; read back with filters; written by the CLI's user and token commands."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.users import write_users
from tidepool.auth.audit import AuditLog
from tidepool.auth.tokens import TOKEN_SHAPE, TokenStore
from tidepool.cli.app import app
from tidepool.domain.audit import AuditEntry, AuditQuery, Outcome
from tidepool.domain.identity import Scope


def entry(action: str, actor: str = "ann", at: dt.datetime | None = None) -> AuditEntry:
    return AuditEntry(
        action=action,
        actor=actor,
        target="alpha",
        outcome=Outcome.OK,
        address="192.0.2.1",
        at=at or dt.datetime.now(dt.UTC),
    )


def test_entries_are_appended_as_lines_in_a_file_private_from_its_first_byte(
    tmp_path: Path,
) -> None:
    log = AuditLog(tmp_path / "audit.log")
    old = os.umask(0)  # the widest umask: the mode must not depend on it
    try:
        log.append(entry("workspace.create"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "audit.log").stat().st_mode) == 0o600
    first = (tmp_path / "audit.log").read_bytes()
    log.append(entry("workspace.stop"))
    after = (tmp_path / "audit.log").read_bytes()
    assert after.startswith(first), "what was written stays as it was"
    lines = after.decode().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["workspace.create", "workspace.stop"]


def test_hostile_values_stay_inside_their_own_line(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    forged = '"}\n{"action": "auth.login", "actor": "root", "outcome": "ok"'
    log.append(AuditEntry("auth.login", forged + "x" * 1000, "", Outcome.FAILED))
    assert len((tmp_path / "audit.log").read_text().splitlines()) == 1
    [kept], _ = log.entries(AuditQuery())
    assert kept.actor.startswith(forged) and len(kept.actor) == 300


def test_queries_filter_by_time_actor_and_action_and_keep_the_newest(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for i, (action, actor) in enumerate(
        [("auth.login", "ann"), ("workspace.stop", "ann"), ("workspace.start", "bob")]
        + [("token.create", "ann")] * 5
    ):
        log.append(entry(action, actor, start + dt.timedelta(minutes=i)))
    assert [e.action for e in log.entries(AuditQuery(action="workspace"))[0]] == [
        "workspace.stop",
        "workspace.start",
    ]
    assert [e.actor for e in log.entries(AuditQuery(action="workspace.start"))[0]] == ["bob"]
    assert log.entries(AuditQuery(actor="bob"))[0][0].action == "workspace.start"
    since = log.entries(AuditQuery(since=start + dt.timedelta(minutes=2)))[0]
    assert since[0].actor == "bob" and len(since) == 6
    newest, truncated = log.entries(AuditQuery(limit=2))
    assert truncated and [e.at.minute for e in newest] == [6, 7]
    assert log.entries(AuditQuery(action="work"))[0] == [], "a family is a whole prefix"


def test_a_torn_last_line_is_skipped_not_repaired(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    log.append(entry("workspace.create"))
    with (tmp_path / "audit.log").open("ab") as raw:
        raw.write(b'{"action": "workspace.st')  # a crash mid-write
    assert [e.action for e in log.entries(AuditQuery())[0]] == ["workspace.create"]
    assert (tmp_path / "audit.log").read_bytes().endswith(b'"workspace.st')


def test_concurrent_writers_never_interleave_within_a_line(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")

    def write(actor: str) -> None:
        for _ in range(50):
            log.append(entry("workspace.start", actor + "-" * 200))

    threads = [threading.Thread(target=write, args=(f"user{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries, _ = log.entries(AuditQuery(limit=1000))
    assert len(entries) == 200
    assert len((tmp_path / "audit.log").read_text().splitlines()) == 200


def test_a_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "audit.log").entries(AuditQuery()) == ([], False)


# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("TIDEPOOL_DATA_DIR", str(data))
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("COLUMNS", "200")
    write_users(data / "users.json", {"ann": "ann-password"})
    return data


def run(*argv: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(argv), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_user_and_token_changes_from_the_cli_are_in_the_audit_log(data: Path) -> None:
    run("user", "add", "bob", "--password-stdin", stdin="bob-password\n")
    run("user", "admin", "bob")
    run("user", "admin", "bob", "--off")
    created = run("token", "create", "ann", "--scope", "read", "--workspace", "alpha")
    token = next(line for line in created.splitlines() if TOKEN_SHAPE.fullmatch(line))
    found = TokenStore(data / "tokens.json").find(token)
    assert found is not None
    assert found.scopes == frozenset({Scope.READ})
    assert found.workspaces == frozenset({"alpha"})
    run("token", "revoke", found.id)
    run("user", "remove", "bob")
    shown = run("audit", "--json")
    entries = [json.loads(line) for line in shown.splitlines()]
    assert [(e["action"], e["target"], e["detail"]) for e in entries] == [
        ("user.add", "bob", ""),
        ("user.admin", "bob", "on"),
        ("user.admin", "bob", "off"),
        ("token.create", found.id, "for ann scopes=read workspaces=alpha"),
        ("token.revoke", found.id, "of ann"),
        ("user.remove", "bob", ""),
    ]
    assert {(e["actor"], e["address"], e["outcome"]) for e in entries} == {("local", "host", "ok")}
    table = run("audit", "--action", "token")
    assert "token.create" in table and "user.add" not in table


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token", "create", "ann", "--scope", "admin"], "'ann' is not an admin"),
        (["token", "create", "ann", "--scope", "root"], "Unknown token scope 'root'"),
        (["token", "create", "ann", "--workspace", "../x"], "Invalid workspace name"),
        (["user", "admin", "nobody"], "There is no user 'nobody'"),
        (["audit", "--since", "yesterday"], "is not a time"),
    ],
)
def test_bad_cli_input_is_refused_and_changes_nothing(
    data: Path, argv: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())
    assert TokenStore(data / "tokens.json").list() == []
    assert all(
        e.outcome is not Outcome.OK for e in AuditLog(data / "audit.log").entries(AuditQuery())[0]
    )
