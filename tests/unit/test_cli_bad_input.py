"""Bad input at the command line: a readable message, a non-zero exit, nothing touched.

The settings point at sockets that do not exist, so any command that got past validation
would fail differently (cannot reach incusd, or a route written): the message proves where it
stopped.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidepool.cli.app import app


@pytest.fixture(autouse=True)
def _nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIDEPOOL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TIDEPOOL_INCUS_SOCKET", str(tmp_path / "no-incus.sock"))
    monkeypatch.setenv("TIDEPOOL_CONFIG", str(tmp_path / "none.toml"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["route", "add", "-n", "Bad_Name", "-i", "10.0.0.1"], "Invalid workspace name"),
        (["route", "add", "-n", "api", "-i", "10.0.0.1"], "reserved"),
        (["route", "add", "-n", "ok", "-i", "not-an-ip"], "not an IPv4 address"),
        (["route", "add", "-n", "ok", "-i", "10.0.0.1; rm -rf /"], "not an IPv4 address"),
        (["route", "remove", "-n", "../x"], "Invalid workspace name"),
        (["vm", "start", "-n", "-rf"], "Invalid workspace name"),
        (["vm", "stop", "-n", "x" * 64], "at most 63"),
        (["vm", "delete", "-n", "app"], "reserved"),
        (["vm", "setup", "-n", "UPPER"], "Invalid workspace name"),
        (["verify", "-n", "a$b"], "Invalid workspace name"),
        (["down", "-n", "a b"], "Invalid workspace name"),
    ],
)
def test_bad_input_is_refused_before_anything_is_reached(argv: list[str], message: str) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1
    assert message in result.output
    assert "Cannot reach" not in result.output


def test_an_unreachable_incusd_is_a_clear_error_not_a_traceback() -> None:
    result = CliRunner().invoke(app, ["vm", "start", "-n", "fine"])
    assert result.exit_code == 1
    assert "Cannot reach incusd" in result.output
    assert "Traceback" not in result.output


def test_by_hand_commands_on_a_workspace_that_does_not_exist_say_how_to_make_one() -> None:
    for argv in (
        ["route", "add", "-n", "fine", "-i", "10.0.0.5"],
        ["route", "remove", "-n", "fine"],
        ["vm", "setup", "-n", "fine"],
        ["vm", "stop", "-n", "fine"],
        ["vm", "delete", "-n", "fine"],
    ):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 1, (argv, result.output)
        assert "There is no workspace 'fine'" in result.output, (argv, result.output)
        assert "tidepool vm start -n fine" in result.output, (argv, result.output)


def test_routes_are_listed_while_caddy_is_down_and_the_user_is_told() -> None:
    listed = CliRunner().invoke(app, ["route", "list"])
    assert listed.exit_code == 0, listed.output
    assert "No routes." in listed.output
    assert "Caddy is not running" in listed.output
    assert "tidepool caddy bootstrap" in listed.output


def test_invalid_settings_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEPOOL_TLS", "internal")
    result = CliRunner().invoke(app, ["route", "list"])
    assert result.exit_code == 1
    assert "Invalid settings" in result.output and "tls needs a domain" in result.output
