"""``/api/me/dotfiles`` and ``/api/me/git-credentials``: each user's own, a secret that goes
in and never comes out (not in an answer, nor the audit log), bad input refused with nothing
changed, and tokens that may not change every workspace refused. The real authenticator,
sessions and tokens are in front."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.signed_in import SignedInApi, signed_in_api
from tidepool.auth.personal import PersonalFiles
from tidepool.domain.audit import AuditQuery, Outcome
from tidepool.domain.identity import Scope

PASSWORDS = {"ann": "ann-password", "bob": "bob-password"}
SECRET = "ghp_aVeryPrivateToken"
CREDENTIALS = "/api/me/git-credentials"


@pytest.fixture
def files(tmp_path: Path) -> PersonalFiles:
    return PersonalFiles.in_directory(tmp_path)


@pytest.fixture
async def api(tmp_path: Path, files: PersonalFiles) -> AsyncIterator[SignedInApi]:
    async with signed_in_api(tmp_path, PASSWORDS, personal=files) as made:
        yield made


async def test_a_credential_goes_in_and_its_secret_never_comes_out(
    api: SignedInApi, files: PersonalFiles, tmp_path: Path
) -> None:
    csrf = await api.sign_in("ann")
    body = {"username": "ann", "secret": SECRET}
    saved = await api.http.put(f"{CREDENTIALS}/Git.Example.test:8443", json=body, headers=csrf)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"host": "git.example.test:8443", "username": "ann"}
    listed = await api.http.get(CREDENTIALS)
    assert listed.json() == {"items": [{"host": "git.example.test:8443", "username": "ann"}]}
    assert [c.secret for c in files.personal("ann").credentials] == [SECRET]
    assert files.personal("bob").credentials == ()
    audit_text = (tmp_path / "audit.log").read_text()
    assert "git_credential.set" in audit_text and SECRET not in audit_text
    removed = await api.http.delete(f"{CREDENTIALS}/git.example.test:8443", headers=csrf)
    assert removed.status_code == 204
    again = await api.http.delete(f"{CREDENTIALS}/git.example.test:8443", headers=csrf)
    assert again.status_code == 404 and "no git credential" in again.json()["detail"]


@pytest.mark.parametrize(
    ("host", "body", "status", "message"),
    [
        ("git.example.test", {"username": "ann", "secret": "two words"}, 400, "secret"),
        ("git.example.test", {"username": "a n", "secret": SECRET}, 400, "git user name"),
        ("git.example.test", {"username": "ann"}, 422, ""),
        ("git.example.test", {"username": "ann", "secret": SECRET, "user": "bob"}, 422, ""),
        ("git.example.test%0Ahttps:", {"username": "ann", "secret": SECRET}, 400, "host name"),
        ("-x", {"username": "ann", "secret": SECRET}, 400, "is not a host name"),
    ],
)
async def test_a_bad_credential_is_refused_and_changes_nothing(
    api: SignedInApi,
    files: PersonalFiles,
    host: str,
    body: dict[str, str],
    status: int,
    message: str,
) -> None:
    csrf = await api.sign_in("ann")
    refused = await api.http.put(f"{CREDENTIALS}/{host}", json=body, headers=csrf)
    assert refused.status_code == status, refused.text
    assert message in refused.text and SECRET not in refused.text
    assert files.personal("ann").credentials == ()


async def test_dotfiles_are_set_shown_refused_when_bad_and_cleared(
    api: SignedInApi, files: PersonalFiles
) -> None:
    csrf = await api.sign_in("ann")
    url = "https://git.example.test/ann/dotfiles.git"
    saved = await api.http.put("/api/me/dotfiles", json={"url": url}, headers=csrf)
    assert saved.status_code == 200 and saved.json() == {"url": url, "branch": ""}
    for bad in ({"url": "file:///etc"}, {"url": "https://u:p@x.test/d.git"}):
        refused = await api.http.put("/api/me/dotfiles", json=bad, headers=csrf)
        assert refused.status_code in (400, 422), refused.text
    assert (await api.http.get("/api/me/dotfiles")).json()["url"] == url
    personal = files.personal("ann")
    assert personal.dotfiles is not None and personal.dotfiles.url == url
    assert (await api.http.delete("/api/me/dotfiles", headers=csrf)).status_code == 204
    assert files.personal("ann").dotfiles is None


async def test_tokens_that_may_not_change_every_workspace_are_refused(
    api: SignedInApi, files: PersonalFiles
) -> None:
    read_only, _ = api.tokens.create("ann", scopes=frozenset({Scope.READ}))
    limited, _ = api.tokens.create("ann", workspaces=frozenset({"alpha"}))
    for token in (read_only, limited):
        headers = {"Authorization": f"Bearer {token}"}
        assert (await api.http.get(CREDENTIALS, headers=headers)).status_code == 200
        body = {"username": "ann", "secret": SECRET}
        refused = await api.http.put(f"{CREDENTIALS}/x.test", json=body, headers=headers)
        assert refused.status_code == 403, refused.text
        dotfiles = {"url": "https://x.test/d.git"}
        assert (
            await api.http.put("/api/me/dotfiles", json=dotfiles, headers=headers)
        ).status_code == 403
    assert files.personal("ann").credentials == () and files.personal("ann").dotfiles is None
    denied = [e.action for e in api.audit.entries(AuditQuery())[0] if e.outcome is Outcome.DENIED]
    assert denied == ["git_credential.set", "dotfiles.set"] * 2


async def test_without_a_store_it_is_a_404_and_without_sign_in_a_401(tmp_path: Path) -> None:
    async with signed_in_api(tmp_path, PASSWORDS) as api:
        csrf = await api.sign_in("ann")
        assert (await api.http.get("/api/me/dotfiles", headers=csrf)).status_code == 404
        api.http.cookies.clear()
        assert (await api.http.get(CREDENTIALS)).status_code == 401
