"""The rules for workspace names, instance names and instance addresses.

A workspace name ends up in a URL path, a Caddy config, a route file and a DNS label, so it
is parsed here once, at the edge (CLI arguments, API bodies, route files), into a
``WorkspaceName``; inside, functions take that type and never check again. An instance name
is derived from the workspace's id by one rule (``instance_name_for``), never from its name,
so a name reused after a delete never meets the old instance.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NewType, TypeGuard

from tidepool.errors import InvalidInputError

MAX_NAME_LENGTH = 63
#: The one name rule, as a regular expression without anchors: the API's schema and Caddy's
#: config are given this very string, so the three can never disagree.
NAME_PATTERN = "[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(NAME_PATTERN)
#: How many hex digits of the workspace's id an instance name carries.
INSTANCE_ID_DIGITS = 16

WorkspaceName = NewType("WorkspaceName", str)
"""A workspace name that passed ``validate_workspace_name``."""
InstanceName = NewType("InstanceName", str)
"""The name of a workspace's machine in the runtime (``PREFIX-`` and 16 hex digits)."""

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


def validate_workspace_name(name: str) -> WorkspaceName:
    """Return ``name`` as a ``WorkspaceName`` if it is a DNS-safe slug that is not reserved,
    else raise ``InvalidInputError`` with a message a user can act on.

    The rule: a lowercase letter first, then lowercase letters, digits and hyphens, no hyphen
    at the end, at most 63 characters (one DNS label).
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError("A workspace name is required.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"Workspace name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed."
        )
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"Invalid workspace name {name!r}: use a lowercase letter first, then lowercase "
            "letters, digits and hyphens, and do not end with a hyphen."
        )
    if name in RESERVED_NAMES:
        raise InvalidInputError(
            f"The workspace name {name!r} is reserved by Tidepool's URL scheme; pick another."
        )
    return WorkspaceName(name)


def instance_name_for(prefix: str, workspace_id: str) -> InstanceName:
    """The one naming rule for instances: ``PREFIX-`` and the first 16 hex digits of the id.

    ``prefix`` is the ``instance_prefix`` setting (a slug), so the result is a valid name in
    every runtime (Incus, Tart) and in a DNS label.
    """
    digits = workspace_id[:INSTANCE_ID_DIGITS]
    if len(digits) != INSTANCE_ID_DIGITS or any(c not in "0123456789abcdef" for c in digits):
        raise InvalidInputError(f"{workspace_id!r} is not a workspace id.")
    if not _NAME.fullmatch(prefix):
        raise InvalidInputError(f"{prefix!r} is not an instance prefix.")
    return InstanceName(f"{prefix}-{digits}")


def is_instance_name(name: str, prefix: str) -> TypeGuard[InstanceName]:
    """True for the names ``instance_name_for(prefix, ...)`` makes, and only those: what is
    not Tidepool's is never touched by it."""
    head, _, tail = name.partition("-")
    return (
        head == prefix
        and len(tail) == INSTANCE_ID_DIGITS
        and all(c in "0123456789abcdef" for c in tail)
    )


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


#: An Incus project Tidepool works in: what ``incus project create`` accepts, kept to a
#: shape that is safe in a URL's query without quoting.
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def validate_project_name(name: str) -> str:
    """Return ``name`` if it can name an Incus project, else raise ``InvalidInputError``."""
    if not isinstance(name, str) or not _PROJECT.fullmatch(name):
        raise InvalidInputError(
            f"Invalid Incus project {name!r}: lowercase letters, digits, '-' and '_', "
            "at most 63, a letter or digit first."
        )
    return name
