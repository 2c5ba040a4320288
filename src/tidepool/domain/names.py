"""The rules for workspace names and instance addresses.

A workspace name ends up in a URL path, a Caddy config, an Incus instance name and a DNS
label, so it is checked here once, before it reaches any of them.
"""

from __future__ import annotations

import ipaddress
import re

from tidepool.errors import InvalidInputError

MAX_NAME_LENGTH = 63
_NAME_PATTERN = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")

#: Names that would collide with Tidepool's own URL scheme or Caddy's routes.
RESERVED_NAMES = frozenset(
    {
        "api",
        "app",
        "admin",
        "assets",
        "auth",
        "health",
        "login",
        "logout",
        "port",
        "static",
        "workspace",
        "workspaces",
    }
)


def validate_workspace_name(name: str) -> str:
    """Return ``name`` if it is a DNS-safe slug that is not reserved, else raise.

    The rule: a lowercase letter first, then lowercase letters, digits and hyphens, no hyphen
    at the end, at most 63 characters (one DNS label).
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError("A workspace name is required.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"Workspace name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed."
        )
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"Invalid workspace name {name!r}: use a lowercase letter first, then lowercase "
            "letters, digits and hyphens, and do not end with a hyphen."
        )
    if name in RESERVED_NAMES:
        raise InvalidInputError(
            f"The workspace name {name!r} is reserved by Tidepool's URL scheme; pick another."
        )
    return name


def validate_ipv4(address: str) -> str:
    """Return ``address`` in canonical form if it is a unicast IPv4 address, else raise."""
    try:
        parsed = ipaddress.IPv4Address(address.strip())
    except (ipaddress.AddressValueError, AttributeError):
        raise InvalidInputError(f"{address!r} is not an IPv4 address.") from None
    if (
        parsed.is_multicast
        or parsed.is_unspecified
        or parsed == ipaddress.IPv4Address("255.255.255.255")
    ):
        raise InvalidInputError(f"{address} cannot be a workspace's address.")
    return str(parsed)
