"""API tokens for scripts and the CLI: shown once at creation, stored only as a hash.

A token reads ``tpt_<id>_<secret>``. The id (public, 12 hex digits) names the token in
``tidepool token list`` and ``revoke``; the secret is 32 random bytes, stored as its SHA-256
and compared in constant time. Tokens may expire; a revoked token is kept (marked) so that
``token list`` still shows what existed.

A token has scopes and may be limited to named workspaces (``tidepool.domain.identity``). A
record written before scopes existed has neither key: it keeps working with every scope its
user had then (``scopes`` is None: ``LEGACY_SCOPES``), so no one is locked out by an upgrade,
and no old token gains a power added since.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tidepool.auth.records import RecordSet, fingerprint, opened
from tidepool.domain.identity import (
    DEFAULT_SCOPES,
    LEGACY_SCOPES,
    Scope,
    parse_scopes,
    parse_workspace_limit,
)
from tidepool.errors import InvalidInputError, NotFoundError

TOKEN_PREFIX = "tpt_"  # noqa: S105 (what every token starts with, not a secret)
TOKEN_SHAPE = re.compile(r"tpt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
LABEL_SHAPE = re.compile(r"[A-Za-z0-9 ._-]{0,64}")
TOKEN_ID_SHAPE = re.compile(r"[0-9a-f]{12}")
#: Ten years: longer is "never", which is what leaving the lifetime out means.
MAX_DAYS = 3650


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    user: str
    label: str
    created: float
    #: Seconds since the epoch, or None for a token that does not expire.
    expires: float | None
    revoked: bool
    #: What the token may do; None for a token from before scopes (every scope of its user).
    scopes: frozenset[Scope] | None = None
    #: The only workspaces it may see, by name; None for no limit.
    workspaces: frozenset[str] | None = None

    @property
    def effective_scopes(self) -> frozenset[Scope]:
        return LEGACY_SCOPES if self.scopes is None else self.scopes


def check_label_and_days(label: str, days: float | None) -> None:
    """Refuse (``InvalidInputError``) a label or a lifetime a token cannot have."""
    if not LABEL_SHAPE.fullmatch(label):
        raise InvalidInputError(
            "A token label has up to 64 letters, digits, spaces, dots, underscores or hyphens."
        )
    if days is not None and not 0 < days <= MAX_DAYS:
        raise InvalidInputError(
            f"A token's lifetime must be a positive number of days, at most {MAX_DAYS}."
        )


class TokenStore:
    def __init__(self, path: Path | RecordSet, clock: Callable[[], float] = time.time) -> None:
        self._file = opened(path)
        self._clock = clock

    def create(
        self,
        user: str,
        label: str = "",
        days: float | None = None,
        *,
        scopes: frozenset[Scope] = DEFAULT_SCOPES,
        workspaces: frozenset[str] | None = None,
    ) -> tuple[str, ApiToken]:
        """A new token for ``user``: the full token (to show once) and its record. Who may
        mint it is the caller's question (``Identity.check_may_grant``); this checks only that
        the values are well formed, before anything is written."""
        scopes = parse_scopes(scope.value for scope in scopes)
        workspaces = parse_workspace_limit(workspaces)
        check_label_and_days(label, days)
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = self._clock()
        token = ApiToken(
            token_id,
            user,
            label,
            now,
            now + days * 86400 if days is not None else None,
            False,
            scopes,
            workspaces,
        )
        with self._file.change() as records:
            records[token_id] = {
                "user": user,
                "label": label,
                "hash": fingerprint(secret),
                "created": token.created,
                "expires": token.expires,
                "revoked": False,
                "scopes": sorted(scopes),
                "workspaces": sorted(workspaces) if workspaces is not None else None,
            }
        return f"{TOKEN_PREFIX}{token_id}_{secret}", token

    def find(self, presented: str) -> ApiToken | None:
        """The token's record if ``presented`` is a live token: right secret, not expired or
        revoked. Anything else is None, whatever was wrong with it."""
        shape = TOKEN_SHAPE.fullmatch(presented)
        if shape is None:
            return None
        token_id, secret = shape.groups()
        # Not in the copy: maybe created through another process (or the CLI) a moment ago.
        record = self._file.read().get(token_id) or self._file.read_fresh().get(token_id)
        if record is None or not hmac.compare_digest(record["hash"], fingerprint(secret)):
            return None
        token = _token(token_id, record)
        if token.revoked or (token.expires is not None and token.expires <= self._clock()):
            return None
        return token

    def live(self) -> list[ApiToken]:
        """Every token that is neither revoked nor expired."""
        now = self._clock()
        return [t for t in self.list() if not t.revoked and (t.expires is None or t.expires > now)]

    def list(self, user: str | None = None) -> list[ApiToken]:
        tokens = [_token(i, r) for i, r in self._file.read().items()]
        return sorted(
            (t for t in tokens if user is None or t.user == user), key=lambda t: t.created
        )

    def get(self, token_id: str) -> ApiToken:
        """The token with this id (live or not), or ``NotFoundError``."""
        record = (
            self._file.read().get(token_id) or self._file.read_fresh().get(token_id)
            if TOKEN_ID_SHAPE.fullmatch(token_id)
            else None
        )
        if record is None:
            raise NotFoundError(f"There is no token {token_id!r}.")
        return _token(token_id, record)

    def revoke(self, token_id: str) -> ApiToken:
        with self._file.change() as records:
            if token_id not in records:
                raise NotFoundError(f"There is no token {token_id!r}.")
            records[token_id]["revoked"] = True
            return _token(token_id, records[token_id])


def _token(token_id: str, record: dict[str, object]) -> ApiToken:
    expires = record["expires"]
    return ApiToken(
        id=token_id,
        user=str(record["user"]),
        label=str(record["label"]),
        created=float(str(record["created"])),
        expires=float(str(expires)) if expires is not None else None,
        revoked=bool(record["revoked"]),
        scopes=_scopes(record.get("scopes")),
        workspaces=_names(record.get("workspaces")),
    )


def _scopes(stored: object) -> frozenset[Scope] | None:
    """Scopes as stored; a value this version does not know grants nothing (never more)."""
    if not isinstance(stored, list):
        return None
    known = {scope.value: scope for scope in Scope}
    return frozenset(known[s] for s in stored if isinstance(s, str) and s in known) | {Scope.READ}


def _names(stored: object) -> frozenset[str] | None:
    if not isinstance(stored, list):
        return None
    return frozenset(str(name) for name in stored)
