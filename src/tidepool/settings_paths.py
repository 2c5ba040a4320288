"""Where Tidepool keeps each thing in its data directory, a part of ``Settings``.

Derived, never set: moving the data directory moves them all.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING


class DataPaths:
    if TYPE_CHECKING:  # a field of ``Settings``
        data_dir: Path

    @cached_property
    def caddy_dir(self) -> Path:
        return self.data_dir / "caddy"

    @cached_property
    def grants_dir(self) -> Path:
        """Workspace origins' grants: written by the control plane, read by Caddy."""
        return self.caddy_dir / "grants"

    @cached_property
    def caddy_admin_socket(self) -> Path:
        return self.caddy_dir / "admin.sock"

    @cached_property
    def api_socket(self) -> Path:
        """The control plane's HTTP API listens here; Caddy and the CLI connect to it."""
        return self.data_dir / "api.sock"

    @cached_property
    def users_file(self) -> Path:
        return self.data_dir / "users.json"

    @cached_property
    def sessions_file(self) -> Path:
        return self.data_dir / "sessions.json"

    @cached_property
    def tokens_file(self) -> Path:
        return self.data_dir / "tokens.json"

    @cached_property
    def ssh_keys_file(self) -> Path:
        return self.data_dir / "ssh_keys.json"

    @cached_property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"
