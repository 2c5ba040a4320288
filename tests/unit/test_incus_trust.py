"""The pieces of ``tidepool host join`` that need no server: reading a trust token, the URL,
the project name, Tidepool's client certificate, and requests kept to the joined project."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.remote import RemoteIncus
from tidepool.adapters.incus.trust import (
    TrustToken,
    fingerprint,
    host_and_port,
    make_client_certificate,
)
from tidepool.domain.names import validate_project_name
from tidepool.errors import InvalidInputError

TOKEN = {
    "client_name": "tidepool",
    "fingerprint": "AB" * 32,
    "addresses": ["10.1.0.2:8443"],
    "secret": "s3cret",
    "expires_at": "0001-01-01T00:00:00Z",
}


def encoded(body: object) -> str:
    return base64.b64encode(json.dumps(body).encode()).decode()


def test_a_token_is_read_whole_and_kept_as_printed() -> None:
    text = encoded(TOKEN)
    token = TrustToken.parse(f"  {text}\n")
    assert token.fingerprint == "ab" * 32
    assert token.addresses == ("10.1.0.2:8443",) and token.secret == "s3cret"
    assert token.text == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        base64.b64encode(b"not json").decode(),
        encoded(["a", "list"]),
        encoded({k: v for k, v in TOKEN.items() if k != "secret"}),
        encoded({**TOKEN, "fingerprint": "abc"}),
        encoded({**TOKEN, "secret": ""}),
    ],
)
def test_anything_else_is_refused_with_what_to_do(text: str) -> None:
    with pytest.raises(InvalidInputError, match="token"):
        TrustToken.parse(text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [("https://incus1:8443", ("incus1", 8443)), ("https://10.1.0.2", ("10.1.0.2", 8443))],
)
def test_urls_name_a_host_and_port(url: str, expected: tuple[str, int]) -> None:
    assert host_and_port(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://incus1:8443", "https://", "https://incus1:99999", "https://incus1/1.0", "incus1"],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="Invalid Incus URL"):
        host_and_port(url)


@pytest.mark.parametrize("name", ["tidepool", "team-a", "a_1"])
def test_project_names(name: str) -> None:
    assert validate_project_name(name) == name


@pytest.mark.parametrize("name", ["", "Tidepool", "a/b", "a b", "a&project=default", "-x"])
def test_bad_project_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError, match="Invalid Incus project"):
        validate_project_name(name)


def test_the_client_certificate_is_for_clients_and_its_fingerprint_is_incus_s() -> None:
    certificate, key = make_client_certificate("tidepool@host")
    parsed = x509.load_pem_x509_certificate(certificate.encode())
    usage = parsed.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert "PRIVATE KEY" in key and "PRIVATE KEY" not in certificate
    assert fingerprint(certificate) == parsed.fingerprint(hashes.SHA256()).hex()


async def test_every_request_is_kept_to_the_joined_project() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.params))
        return httpx.Response(200, json={"type": "sync", "metadata": []})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://incus")
    client = IncusClient(http, project="tidepool")
    await client.sync("GET", "/1.0/instances")
    await client.sync("GET", "/1.0/instances", params={"recursion": "1", "project": "default"})
    assert seen == ["project=tidepool", "recursion=1&project=tidepool"]


def test_a_join_cut_short_between_its_renames_keeps_the_earlier_remote(tmp_path: Path) -> None:
    """A SIGKILL after the earlier record was set aside and before the new one was put in
    place: the earlier remote is still the one used, never the local socket."""
    earlier = tmp_path / "incus.earlier"
    earlier.mkdir()
    RemoteIncus("https://incus1:8443", "tidepool", earlier).save()
    loaded = RemoteIncus.load(tmp_path / "incus")
    assert loaded == RemoteIncus("https://incus1:8443", "tidepool", earlier)
    assert RemoteIncus.load(tmp_path / "other") is None
