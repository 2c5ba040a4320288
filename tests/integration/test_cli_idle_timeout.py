"""``tidepool idle-timeout``: the real CLI, in a process of its own, against the API on its
socket (root on the host acts as the local owner). A choice is shown back in hours and
minutes; a bad duration is answered before any request, and one outside the bounds by the
API: both exit non-zero and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.cli_host import cli_host, run_cli
from tidepool.auth.idle_choices import IdleChoices
from tidepool.domain.activity import IdleBounds
from tidepool.domain.identity import LOCAL_OWNER


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], IdleChoices]]:
    choices = IdleChoices(tmp_path / "data" / "idle.json", IdleBounds(10, 240), 30)
    async with cli_host(tmp_path / "data", idle_choices=choices) as env:
        yield env, choices


async def tidepool(env: dict[str, str], *argv: str) -> tuple[int, str]:
    return await run_cli(env, "idle-timeout", *argv)


async def test_the_timeout_is_shown_chosen_and_given_back(
    host: tuple[dict[str, str], IdleChoices],
) -> None:
    env, choices = host
    code, out = await tidepool(env)
    assert code == 0, out
    assert "the default: 30m" in out and "from 10m to 4h" in out
    code, out = await tidepool(env, "1h30m")
    assert code == 0, out
    assert "stop after 1h30m without activity" in out
    assert choices.chosen(LOCAL_OWNER) == 90
    code, out = await tidepool(env, "--default")
    assert code == 0 and "the default" in out, out
    assert choices.chosen(LOCAL_OWNER) is None


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["forever"], "Invalid duration"),
        (["0m"], "longer than nothing"),
        (["5m"], "10 to 240 minutes"),
        (["5h"], "10 to 240 minutes"),
        (["1h", "--default"], "not both"),
    ],
)
async def test_a_bad_choice_is_refused_and_changes_nothing(
    host: tuple[dict[str, str], IdleChoices], argv: list[str], said: str
) -> None:
    env, choices = host
    choices.choose(LOCAL_OWNER, 60)
    code, out = await tidepool(env, *argv)
    assert code != 0 and said in out, out
    assert "Traceback" not in out
    assert choices.chosen(LOCAL_OWNER) == 60
