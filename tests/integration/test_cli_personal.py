"""``tidepool git-credential`` and ``tidepool dotfiles``: the real CLI, in a process of its
own, against the API on its socket (root on the host acts as the local owner). A secret comes
in through a pipe, never an argument, and never comes out; bad input exits non-zero with the
reason and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.cli_host import cli_host, run_cli
from tidepool.auth.personal import PersonalFiles
from tidepool.domain.identity import LOCAL_OWNER

SECRET = "ghp_aVeryPrivateToken"


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], PersonalFiles]]:
    files = PersonalFiles.in_directory(tmp_path / "data")
    async with cli_host(tmp_path / "data", personal=files) as env:
        yield env, files


async def tidepool(env: dict[str, str], *argv: str, stdin: bytes = b"") -> tuple[int, str]:
    return await run_cli(env, *argv, stdin=stdin.decode())


async def test_a_credential_goes_in_through_a_pipe_and_never_comes_out(
    host: tuple[dict[str, str], PersonalFiles],
) -> None:
    env, files = host
    code, out = await tidepool(
        env, "git-credential", "set", "git.example.test", "-u", "ann", stdin=f"{SECRET}\n".encode()
    )
    assert code == 0, out
    assert "ann@git.example.test saved" in out and SECRET not in out
    [credential] = files.personal(LOCAL_OWNER).credentials
    assert credential.secret == SECRET
    code, out = await tidepool(env, "git-credential", "list")
    assert code == 0 and "git.example.test" in out and "ann" in out and SECRET not in out, out
    code, out = await tidepool(env, "git-credential", "remove", "git.example.test")
    assert code == 0 and "removed" in out, out
    code, out = await tidepool(env, "git-credential", "remove", "git.example.test")
    assert code != 0 and "no git credential for git.example.test" in out, out


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (("git.example.test", "-u", "ann"), b"", "No secret given"),
        (("git.example.test", "-u", "a n"), b"s3cret\n", "git user name"),
        (("bad host", "-u", "ann"), b"s3cret\n", "'bad host' is not a host name"),
    ],
)
async def test_a_bad_credential_exits_non_zero_and_changes_nothing(
    host: tuple[dict[str, str], PersonalFiles], argv: tuple[str, ...], stdin: bytes, message: str
) -> None:
    env, files = host
    code, out = await tidepool(env, "git-credential", "set", *argv, stdin=stdin)
    assert code != 0, out
    assert message in out and "Traceback" not in out, out
    assert files.personal(LOCAL_OWNER).credentials == ()


async def test_dotfiles_are_set_shown_refused_when_bad_and_cleared(
    host: tuple[dict[str, str], PersonalFiles],
) -> None:
    env, files = host
    url = "https://git.example.test/ann/dotfiles.git"
    code, out = await tidepool(env, "dotfiles", "set", url, "--branch", "main")
    assert code == 0 and url in out, out
    code, out = await tidepool(env, "dotfiles", "show")
    assert code == 0 and f"{url} (main)" in out, out
    code, out = await tidepool(env, "dotfiles", "set", "file:///etc/passwd")
    assert code != 0 and "https://" in out and "Traceback" not in out, out
    dotfiles = files.personal(LOCAL_OWNER).dotfiles
    assert dotfiles is not None and dotfiles.url == url, "a refused change changes nothing"
    code, out = await tidepool(env, "dotfiles", "clear")
    assert code == 0, out
    code, out = await tidepool(env, "dotfiles", "show")
    assert code == 0 and "No dotfiles set" in out, out
