"""The rule for user names, written once.

A user name is stored in the users file, written into a workspace's route file as its owner,
and matched by Caddy's config when it reads that file back. The rule lives in the domain so
the proxy adapter and the sign-in code share one definition without importing each other.
"""

from __future__ import annotations

import re

from tidepool.errors import InvalidInputError

#: A lowercase letter first, then up to 31 lowercase letters, digits, dots, underscores or
#: hyphens (no anchors: Caddy's route file pattern embeds it).
USER_NAME = re.compile(r"[a-z][a-z0-9._-]{0,31}")


def validate_user_name(name: str) -> str:
    """Return ``name`` if it follows the rule, else raise ``InvalidInputError``."""
    if not USER_NAME.fullmatch(name or ""):
        raise InvalidInputError(
            f"Invalid user name {name!r}: a lowercase letter first, then up to 31 lowercase "
            "letters, digits, dots, underscores or hyphens."
        )
    return name
