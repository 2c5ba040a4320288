"""A user's SSH public key, as OpenSSH writes it: read strictly, before it goes anywhere.

A key a user adds ends up as a line of ``authorized_keys`` in each of their workspaces, so
what is accepted is exactly one key, of a type OpenSSH still trusts, strong enough, with no
options (``command=``, ``from=``...: those are the workspace's owner's to write by hand) and
nothing that could start a second line. The key's bytes are read, not only its text: the
type inside the base64 must be the type in front of it, and the lengths must add up, so a
truncated paste is a clear error now rather than a key that never works.

No cryptography library is needed: the public key format is a few length-prefixed strings
(RFC 4253 section 6.6, RFC 5656, RFC 8709, OpenSSH's PROTOCOL.u2f).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from tidepool.errors import InvalidInputError

#: RSA below this many bits is refused (OpenSSH itself refuses below 1024; 2048 is the floor
#: every current guideline keeps).
MIN_RSA_BITS = 2048
MAX_COMMENT = 100
#: A whole line, however long the key: 16 KiB RSA is about 2,800 characters.
MAX_LINE = 4096

_EC_POINT_BYTES = {"nistp256": 65, "nistp384": 97, "nistp521": 133}
#: Type name -> what follows it in the key's bytes.
_LAYOUTS = {
    "ssh-ed25519": "ed25519",
    "ssh-rsa": "rsa",
    "ecdsa-sha2-nistp256": "ecdsa",
    "ecdsa-sha2-nistp384": "ecdsa",
    "ecdsa-sha2-nistp521": "ecdsa",
    "sk-ssh-ed25519@openssh.com": "sk-ed25519",
    "sk-ecdsa-sha2-nistp256@openssh.com": "sk-ecdsa",
}
KEY_TYPES = tuple(_LAYOUTS)
_REFUSED = {
    "ssh-dss": "DSA keys are too weak (OpenSSH no longer accepts them).",
}
_COMMENT = re.compile(r"[\x20-\x7e]*")


@dataclass(frozen=True, slots=True)
class PublicKey:
    type: str
    #: The key's bytes (what the base64 in the line decodes to).
    blob: bytes
    comment: str

    @property
    def fingerprint(self) -> str:
        """As ``ssh-keygen -l`` prints it: ``SHA256:`` and unpadded base64."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"

    def line(self, comment: str | None = None) -> str:
        """The ``authorized_keys`` line: type, key, and the comment (if any)."""
        text = self.comment if comment is None else comment
        key = base64.b64encode(self.blob).decode()
        return f"{self.type} {key} {text}".rstrip()


def parse_public_key(text: str) -> PublicKey:
    """The one key in ``text`` (a ``.pub`` file's line), or ``InvalidInputError`` saying
    what is wrong with it."""
    text = text.strip()
    if not text:
        raise InvalidInputError("Paste a public key: the one line of a .pub file.")
    if len(text) > MAX_LINE:
        raise InvalidInputError(f"That is longer than any public key ({MAX_LINE} characters).")
    if "\n" in text or "\r" in text or "\x00" in text:
        raise InvalidInputError("A public key is one line; this has several.")
    if text.startswith("-----BEGIN") or "PRIVATE KEY" in text:
        raise InvalidInputError(
            "That is a private key. Never share it: paste the public half (the .pub file)."
        )
    fields = text.split(None, 2)
    key_type = fields[0]
    if key_type in _REFUSED:
        raise InvalidInputError(_REFUSED[key_type])
    if key_type not in _LAYOUTS:
        raise InvalidInputError(
            f"Not a public key of a known type ({key_type[:40]!r}): a key starts with one of "
            f"{', '.join(KEY_TYPES)} (options such as command= are not taken)."
        )
    if len(fields) < 2:
        raise InvalidInputError(f"The {key_type} key itself is missing after its type.")
    comment = fields[2].strip() if len(fields) > 2 else ""
    if len(comment) > MAX_COMMENT or not _COMMENT.fullmatch(comment):
        raise InvalidInputError(
            f"A key's comment is up to {MAX_COMMENT} printable ASCII characters."
        )
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"The {key_type} key is not valid base64.") from None
    _check_blob(key_type, blob)
    return PublicKey(key_type, blob, comment)


def _check_blob(key_type: str, blob: bytes) -> None:
    reader = _Reader(blob, key_type)
    if reader.string() != key_type.encode():
        raise InvalidInputError(f"The key's bytes are not a {key_type} key (a different type).")
    layout = _LAYOUTS[key_type]
    if layout in ("ed25519", "sk-ed25519"):
        if len(reader.string()) != 32:
            raise InvalidInputError(f"The {key_type} key has the wrong length.")
    elif layout in ("ecdsa", "sk-ecdsa"):
        curve = reader.string().decode("ascii", "replace")
        if not key_type.endswith(curve) and f"-{curve}@" not in key_type:
            raise InvalidInputError(f"The {key_type} key names another curve ({curve!r}).")
        point = reader.string()
        if len(point) != _EC_POINT_BYTES.get(curve, -1) or point[:1] != b"\x04":
            raise InvalidInputError(f"The {key_type} key's point is not a valid one.")
    else:
        exponent = int.from_bytes(reader.string(), "big")
        bits = int.from_bytes(reader.string(), "big").bit_length()
        if exponent < 3 or exponent % 2 == 0:
            raise InvalidInputError("The RSA key's exponent is not a valid one.")
        if bits < MIN_RSA_BITS:
            raise InvalidInputError(
                f"The RSA key has {bits} bits: too weak, at least {MIN_RSA_BITS} are needed "
                "(or use ed25519: ssh-keygen -t ed25519)."
            )
    if layout.startswith("sk-") and not reader.string().startswith(b"ssh:"):
        raise InvalidInputError(f"The {key_type} key's application is not an SSH one.")
    if not reader.done:
        raise InvalidInputError(f"The {key_type} key has bytes after its end.")


class _Reader:
    """Length-prefixed strings, one after another (RFC 4251's ``string`` and ``mpint``)."""

    def __init__(self, data: bytes, key_type: str) -> None:
        self._data = data
        self._at = 0
        self._type = key_type

    def string(self) -> bytes:
        start = self._at + 4
        if start > len(self._data):
            raise InvalidInputError(f"The {self._type} key is cut short (an incomplete paste?).")
        length = int.from_bytes(self._data[self._at : start], "big")
        if start + length > len(self._data):
            raise InvalidInputError(f"The {self._type} key is cut short (an incomplete paste?).")
        self._at = start + length
        return self._data[start : self._at]

    @property
    def done(self) -> bool:
        return self._at == len(self._data)
