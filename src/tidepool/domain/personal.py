"""What a user sets once for all their workspaces: a dotfiles repository and the credentials
git uses for private repositories.

A credential's secret is never shown back, logged or put in an event: ``repr`` hides it, the
API answers with the host and user name only, and it reaches a workspace as a file that git's
``store`` helper reads, never on a command line. The host is checked as a URL's host would be
(the same rule as repository URLs), so it cannot smuggle a path or a second line into that
file; the user name and secret are percent-encoded in it, as the helper expects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from tidepool.domain.repositories import Repository
from tidepool.errors import InvalidInputError

#: A host as repository URLs name it, with an optional port.
HOST_RULE = r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?$"
_HOST = re.compile(HOST_RULE)
USERNAME_RULE = r"^[A-Za-z0-9._@+-]{1,100}$"
_USERNAME = re.compile(USERNAME_RULE)
MAX_SECRET = 1000
#: At most this many credentials per user.
MAX_CREDENTIALS = 20


@dataclass(frozen=True, slots=True)
class GitCredential:
    """A user's password or token for one git host; made by ``git_credential``, which
    checks it. The secret is left out of ``repr`` so that no log or traceback shows it."""

    host: str
    username: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Personal:
    """One user's settings; empty for a user who set nothing."""

    dotfiles: Repository | None = None
    credentials: tuple[GitCredential, ...] = ()


def validate_host(host: str) -> str:
    """``host`` in lower case if it is a git host's name (with an optional port), else
    ``InvalidInputError`` saying what one is."""
    if not _HOST.match(host) or ".." in host:
        raise InvalidInputError(
            f"{host!r} is not a host name: letters, digits, '.' and '-', with an optional "
            ":port (for example github.com or git.example.com:8443)."
        )
    return host.lower()


def git_credential(host: str, username: str, secret: str) -> GitCredential:
    """A checked credential; ``InvalidInputError`` saying what is wrong otherwise (never
    quoting the secret)."""
    validate_host(host)
    if not _USERNAME.match(username):
        raise InvalidInputError(
            "A git user name is 1 to 100 letters, digits and '.', '_', '@', '+', '-'."
        )
    if not secret or len(secret) > MAX_SECRET or not secret.isprintable() or " " in secret:
        raise InvalidInputError(
            f"A git secret (a password or token) is 1 to {MAX_SECRET} printable characters "
            "without spaces."
        )
    return GitCredential(host.lower(), username, secret)


def credential_store_file(credentials: tuple[GitCredential, ...]) -> bytes:
    """The lines git's ``store`` helper reads: one per credential and scheme (a repository
    may be on ``https`` or, on a private network, plain ``http``)."""
    lines = []
    for credential in credentials:
        user = quote(credential.username, safe="")
        secret = quote(credential.secret, safe="")
        for scheme in ("https", "http"):
            lines.append(f"{scheme}://{user}:{secret}@{credential.host}\n")
    return "".join(lines).encode()
