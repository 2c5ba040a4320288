"""Dotfiles and git credentials as a user's own settings: a secret that goes into a 0600 file
and comes out only in the line git's ``store`` helper reads, each user's own, and a credential
that could smuggle a second line into that file refused.

The API over these is tested in ``test_personal_api.py``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tidepool.auth.personal import PersonalFiles
from tidepool.domain.personal import (
    MAX_CREDENTIALS,
    Personal,
    credential_store_file,
    git_credential,
)
from tidepool.domain.repositories import repository
from tidepool.errors import ConflictError, InvalidInputError

SECRET = "ghp_aVeryPrivateToken/+="


def test_a_secret_is_kept_0600_and_shown_only_to_git(tmp_path: Path) -> None:
    files = PersonalFiles(tmp_path / "personal.json")
    files.set_credential("ann", git_credential("Git.Example.test:8443", "ann", SECRET))
    assert stat.S_IMODE((tmp_path / "personal.json").stat().st_mode) == 0o600
    [credential] = files.personal("ann").credentials
    assert credential.host == "git.example.test:8443", "hosts are compared in lower case"
    assert SECRET not in repr(credential) and SECRET not in repr(files.personal("ann"))
    assert credential_store_file((credential,)).decode().splitlines() == [
        "https://ann:ghp_aVeryPrivateToken%2F%2B%3D@git.example.test:8443",
        "http://ann:ghp_aVeryPrivateToken%2F%2B%3D@git.example.test:8443",
    ]
    assert files.personal("bob") == Personal(), "each user's own"


def test_a_credential_is_replaced_per_host_and_removed(tmp_path: Path) -> None:
    files = PersonalFiles(tmp_path / "personal.json")
    files.set_credential("ann", git_credential("git.example.test", "ann", "first"))
    files.set_credential("ann", git_credential("git.example.test", "ann2", "second"))
    [credential] = files.personal("ann").credentials
    assert (credential.username, credential.secret) == ("ann2", "second")
    assert files.remove_credential("ann", "GIT.example.test")
    assert not files.remove_credential("ann", "git.example.test"), "nothing left to remove"
    assert files.personal("ann").credentials == ()


def test_a_user_has_at_most_so_many_credentials(tmp_path: Path) -> None:
    files = PersonalFiles(tmp_path / "personal.json")
    for number in range(MAX_CREDENTIALS):
        files.set_credential("ann", git_credential(f"git{number}.test", "ann", SECRET))
    with pytest.raises(ConflictError, match="remove one first"):
        files.set_credential("ann", git_credential("one-more.test", "ann", SECRET))
    files.set_credential("ann", git_credential("git0.test", "ann", "new"))  # a replacement
    assert len(files.personal("ann").credentials) == MAX_CREDENTIALS


def test_dotfiles_are_set_read_back_and_cleared(tmp_path: Path) -> None:
    files = PersonalFiles(tmp_path / "personal.json")
    dotfiles = repository("https://git.example.test/ann/dotfiles.git", "main")
    files.set_dotfiles("ann", dotfiles)
    assert PersonalFiles(tmp_path / "personal.json").personal("ann").dotfiles == dotfiles
    files.set_dotfiles("ann", None)
    assert files.personal("ann").dotfiles is None


@pytest.mark.parametrize(
    ("host", "username", "secret", "message"),
    [
        ("git.example.test/evil", "ann", SECRET, "not a host"),
        ("git..example.test", "ann", SECRET, "not a host"),
        ("git.example.test", "ann\nurl=x", SECRET, "user name"),
        ("git.example.test", "ann", "two words", "without spaces"),
        ("git.example.test", "ann", "line\nbreak", "without spaces"),
        ("git.example.test", "ann", "", "without spaces"),
    ],
)
def test_a_credential_that_could_smuggle_a_line_is_refused(
    host: str, username: str, secret: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as refused:
        git_credential(host, username, secret)
    assert secret not in str(refused.value) or not secret
