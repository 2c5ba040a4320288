"""Joining a remote Incus: its trust token, Tidepool's client certificate, the pinned server
certificate.

Incus trusts a client by its TLS certificate. An operator on the Incus host issues a token
(``incus config trust add tidepool --projects tidepool --restricted``); the token carries the
server certificate's fingerprint, its addresses and a one-time secret. ``join`` checks that
the server it reached presents the certificate the token names (so a host in the middle
cannot stand in for it), makes Tidepool a key and certificate of its own, and spends the
secret to have Incus trust that certificate. From then on every connection pins the server's
certificate: no certificate authority is involved, as with the ``incus`` CLI's remotes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import json
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tidepool.errors import InvalidInputError, RuntimeUnavailableError

#: How long Tidepool's client certificate is valid: Incus checks it on every connection.
CERTIFICATE_DAYS = 3650


@dataclass(frozen=True, slots=True)
class TrustToken:
    """What ``incus config trust add`` prints, decoded."""

    client_name: str
    fingerprint: str
    addresses: tuple[str, ...]
    secret: str
    #: The token as printed: what the server is sent, whole, to spend it.
    text: str

    @classmethod
    def parse(cls, text: str) -> TrustToken:
        """``InvalidInputError`` for anything that is not an Incus trust token."""
        try:
            data = json.loads(base64.b64decode(text.strip(), validate=True))
            token = cls(
                client_name=str(data["client_name"]),
                fingerprint=str(data["fingerprint"]).lower(),
                addresses=tuple(str(a) for a in data.get("addresses") or ()),
                secret=str(data["secret"]),
                text=text.strip(),
            )
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise InvalidInputError(
                "That is not an Incus trust token: make one on the Incus host with "
                "`incus config trust add tidepool --projects tidepool --restricted`."
            ) from None
        if len(token.fingerprint) != 64 or not token.secret:
            raise InvalidInputError("The trust token names no server certificate.")
        return token


def fingerprint(certificate_pem: str) -> str:
    """A certificate's SHA-256 fingerprint as Incus writes it (lower-case hex of the DER)."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(certificate_pem)).hexdigest()


def make_client_certificate(name: str) -> tuple[str, str]:
    """A new P-384 key and a self-signed client certificate for it, as PEM (cert, key)."""
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(key, hashes.SHA384())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def host_and_port(url: str) -> tuple[str, int]:
    """``https://host:8443`` as ``("host", 8443)``; ``InvalidInputError`` for anything else."""
    parts = urlsplit(url)
    try:
        port = parts.port or 8443
    except ValueError:
        port = 0
    if parts.scheme != "https" or not parts.hostname or not port or parts.path not in ("", "/"):
        raise InvalidInputError(
            f"Invalid Incus URL {url!r}: give https://HOST[:PORT], as in https://incus1:8443."
        )
    return parts.hostname, port


async def server_certificate(url: str, timeout: float = 10.0) -> str:
    """The certificate the server at ``url`` presents, as PEM, not yet trusted: ``join``
    compares it with the token's fingerprint before anything is sent."""
    host, port = host_and_port(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context), timeout
        )
    except (OSError, TimeoutError) as error:
        raise RuntimeUnavailableError(f"Cannot reach Incus at {url}: {error}.") from error
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not der:
        raise RuntimeUnavailableError(f"Incus at {url} presented no certificate.")
    return ssl.DER_cert_to_PEM_cert(der)


def pinned_context(server_pem: str, client_cert: str, client_key: str) -> ssl.SSLContext:
    """TLS that accepts exactly ``server_pem`` and presents Tidepool's client certificate
    (files). The host name is not checked: the pinned certificate is the whole proof."""
    context = ssl.create_default_context(cadata=server_pem)
    context.check_hostname = False
    context.load_cert_chain(client_cert, client_key)
    return context
