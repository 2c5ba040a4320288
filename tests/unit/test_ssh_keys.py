"""SSH public keys: read strictly (``domain.ssh_keys``), kept per user (``auth.ssh_keys``), and
managed through ``/api/keys`` by their owner alone.

Keys are made by the real ``ssh-keygen`` for each test run, and fingerprints are compared
with what it prints, so the parser is held to OpenSSH's own reading.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.signed_in import SignedInApi, signed_in_api
from tidepool.auth.ssh_keys import SshKeyStore
from tidepool.domain.audit import AuditQuery, Outcome
from tidepool.domain.identity import Scope
from tidepool.domain.ssh_keys import parse_public_key
from tidepool.errors import ConflictError, InvalidInputError, NotFoundError

PASSWORDS = {"ann": "ann-password", "bob": "bob-password"}
KINDS = {
    "ed25519": ["-t", "ed25519"],
    "ecdsa256": ["-t", "ecdsa", "-b", "256"],
    "ecdsa384": ["-t", "ecdsa", "-b", "384"],
    "ecdsa521": ["-t", "ecdsa", "-b", "521"],
    "rsa3072": ["-t", "rsa", "-b", "3072"],
    "rsa1024": ["-t", "rsa", "-b", "1024"],
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """``{kind: (public line, fingerprint as ssh-keygen prints it)}``."""
    directory = tmp_path_factory.mktemp("keys")
    keys = {}
    for kind, argv in KINDS.items():
        path = directory / kind
        subprocess.run(
            ["ssh-keygen", "-q", *argv, "-N", "", "-C", "ann@laptop", "-f", str(path)],
            check=True,
        )
        listed = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"],
            check=True,
            capture_output=True,
            text=True,
        )
        keys[kind] = (Path(f"{path}.pub").read_text().strip(), listed.stdout.split()[1])
    return keys


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa3072"])
def test_keys_of_every_trusted_type_are_read_as_openssh_reads_them(
    made: dict[str, tuple[str, str]], kind: str
) -> None:
    line, fingerprint = made[kind]
    key = parse_public_key(f"  {line}\n")
    assert key.fingerprint == fingerprint
    assert key.comment == "ann@laptop"
    assert key.line() == line


def test_bad_keys_are_refused_with_what_is_wrong(made: dict[str, tuple[str, str]]) -> None:
    ed25519, rsa1024 = made["ed25519"][0], made["rsa1024"][0]
    key_type, blob, _ = ed25519.split(" ", 2)
    rsa_blob = made["rsa3072"][0].split()[1]
    refusals = {
        "": "Paste a public key",
        rsa1024: "1024 bits: too weak",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP8= x": "DSA keys are too weak",
        f'command="sh" {ed25519}': "options such as command= are not taken",
        f"ssh-foo {blob}": "Not a public key of a known type",
        f"{ed25519}\n{ed25519}": "one line",
        "ssh-ed25519": "key itself is missing",
        f"ssh-ed25519 {blob[:-8]}": "cut short|not valid base64",
        f"ssh-ed25519 {blob}!!": "not valid base64",
        f"ssh-rsa {blob}": "not a ssh-rsa key",
        f"ssh-ed25519 {rsa_blob}": "not a ssh-ed25519 key",
        f"{key_type} {blob} {'x' * 101}": "comment",
        f"{key_type} {blob} bell\x07": "comment",
        "-----BEGIN OPENSSH PRIVATE KEY-----": "private key",
        f"ssh-ed25519 {base64.b64encode(base64.b64decode(blob) + b'x').decode()}": "after its end",
    }
    for text, reason in refusals.items():
        with pytest.raises(InvalidInputError, match=reason):
            parse_public_key(text)


def test_a_key_belongs_to_one_user_and_is_removed_by_them_alone(
    tmp_path: Path, made: dict[str, tuple[str, str]]
) -> None:
    store = SshKeyStore(tmp_path / "ssh_keys.json")
    added = store.add("ann", made["ed25519"][0])
    assert added.name == "ann@laptop" and store.list("ann") == [added]
    with pytest.raises(ConflictError, match="already in use"):
        store.add("bob", made["ed25519"][0])  # (whose, it does not say)
    with pytest.raises(InvalidInputError, match="name"):
        store.add("ann", made["ecdsa256"][0], name="a\nb")
    with pytest.raises(NotFoundError):
        store.remove("bob", added.id)
    with pytest.raises(NotFoundError):
        store.remove("ann", "../x")
    before = store.version()
    assert store.remove("ann", added.id) == added
    assert store.list("ann") == [] and store.version() != before
    assert (tmp_path / "ssh_keys.json").stat().st_mode & 0o077 == 0


# --- through the API ---------------------------------------------------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[SignedInApi]:
    keys = SshKeyStore(tmp_path / "ssh_keys.json")
    async with signed_in_api(tmp_path, PASSWORDS, ssh_keys=keys) as made:
        yield made


async def test_a_user_adds_lists_and_removes_their_keys(
    api: SignedInApi, made: dict[str, tuple[str, str]]
) -> None:
    csrf = await api.sign_in("ann")
    line, fingerprint = made["ed25519"]
    added = await api.http.post("/api/keys", json={"public_key": line}, headers=csrf)
    assert added.status_code == 201, added.text
    key = added.json()
    assert (key["type"], key["fingerprint"], key["public_key"]) == (
        "ssh-ed25519",
        fingerprint,
        line,
    )
    listed = (await api.http.get("/api/keys")).json()
    assert [k["id"] for k in listed["items"]] == [key["id"]]
    gone = await api.http.delete(f"/api/keys/{key['id']}", headers=csrf)
    assert gone.status_code == 204
    assert (await api.http.get("/api/keys")).json()["items"] == []
    actions = [(e.action, e.outcome) for e in api.audit.entries(AuditQuery(action="key"))[0]]
    assert ("key.add", Outcome.OK) in actions and ("key.remove", Outcome.OK) in actions


async def test_bad_keys_and_forbidden_changes_are_refused_and_change_nothing(
    api: SignedInApi, made: dict[str, tuple[str, str]]
) -> None:
    csrf = await api.sign_in("ann")
    weak = await api.http.post("/api/keys", json={"public_key": made["rsa1024"][0]}, headers=csrf)
    assert weak.status_code == 400 and "too weak" in weak.json()["detail"]
    extra = await api.http.post("/api/keys", json={"public_key": "x", "user": "bob"}, headers=csrf)
    assert extra.status_code == 422
    no_csrf = await api.http.post("/api/keys", json={"public_key": made["ed25519"][0]})
    assert no_csrf.status_code == 403
    read_only, _ = api.tokens.create("ann", scopes=frozenset({Scope.READ}))
    limited, _ = api.tokens.create("ann", workspaces=frozenset({"alpha"}))
    for token in (read_only, limited):
        refused = await api.http.post(
            "/api/keys",
            json={"public_key": made["ed25519"][0]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert refused.status_code == 403 and "SSH keys" in refused.json()["detail"]
    assert (await api.http.get("/api/keys")).json()["items"] == []
    denied = [
        e for e in api.audit.entries(AuditQuery(action="key"))[0] if e.outcome is Outcome.DENIED
    ]
    assert len([e for e in denied if e.action == "key.add"]) == 3


async def test_another_users_key_is_a_missing_one(
    api: SignedInApi, made: dict[str, tuple[str, str]]
) -> None:
    anns = await api.sign_in("ann")
    key = (
        await api.http.post("/api/keys", json={"public_key": made["ed25519"][0]}, headers=anns)
    ).json()
    api.http.cookies.clear()
    bobs = await api.sign_in("bob")
    assert (await api.http.get("/api/keys")).json()["items"] == []
    refused = await api.http.delete(f"/api/keys/{key['id']}", headers=bobs)
    assert refused.status_code == 404 and key["id"] in refused.json()["detail"]
    taken = await api.http.post("/api/keys", json={"public_key": made["ed25519"][0]}, headers=bobs)
    assert taken.status_code == 409 and "ann" not in taken.text
