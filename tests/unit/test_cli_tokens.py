"""`tidepool token create|list|revoke`: shown once, works until revoked; bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.users import write_users
from tidepool.auth.tokens import TOKEN_SHAPE, TokenStore
from tidepool.cli.app import app


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("TIDEPOOL_DATA_DIR", str(data))
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "none.toml"))
    write_users(data / "users.json", {"ann": "ann-password"})
    return data


def test_a_created_token_is_printed_once_and_works_until_revoked(data: Path) -> None:
    created = CliRunner().invoke(app, ["token", "create", "ann", "--label", "ci", "--days", "30"])
    assert created.exit_code == 0, created.output
    token = next(line for line in created.output.splitlines() if TOKEN_SHAPE.fullmatch(line))
    tokens = TokenStore(data / "tokens.json")
    found = tokens.find(token)
    assert found is not None and found.user == "ann" and found.label == "ci"
    listed = CliRunner().invoke(app, ["token", "list"])
    assert found.id in listed.output and token not in listed.output
    revoked = CliRunner().invoke(app, ["token", "revoke", found.id])
    assert revoked.exit_code == 0
    assert tokens.find(token) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token", "create", "nobody"], "There is no user 'nobody'"),
        (["token", "create", "Bad Name"], "Invalid user name"),
        (["token", "create", "ann", "--label", "a;b"], "token label"),
        (["token", "create", "ann", "--days", "-3"], "positive number of days"),
        (["token", "revoke", "000000000000"], "There is no token"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(
    data: Path, argv: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1
    assert message in result.output
    assert TokenStore(data / "tokens.json").list() == []
