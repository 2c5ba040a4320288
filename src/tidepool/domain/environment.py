"""The workspace's environment file: how a runtime tells an instance who it is.

Every runtime (Incus, Tart, the in-memory fake) writes the same file before code-server
starts, with the same rules, so they live here rather than in one adapter.
"""

from __future__ import annotations

from collections.abc import Mapping

from tidepool.errors import InvalidInputError

#: Read by the code-server service inside every workspace image.
WORKSPACE_ENV_PATH = "/etc/tidepool/workspace.env"


def render_env_file(environment: Mapping[str, str]) -> bytes:
    """Render ``KEY=value`` lines that both systemd's EnvironmentFile and sh can read.

    Keys and values are checked: a newline or quote could otherwise smuggle a second setting.
    """
    lines = []
    for key, value in sorted(environment.items()):
        if not key.isidentifier() or not key.isupper():
            raise InvalidInputError(f"Environment key {key!r} must be an upper-case identifier.")
        if any(ch in value for ch in "\n\r\"'\\$`"):
            raise InvalidInputError(f"Environment value for {key} contains a forbidden character.")
        lines.append(f"{key}={value}\n")
    return "".join(lines).encode()
