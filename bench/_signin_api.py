"""The control plane's API with ``forward_auth`` for ``bench/proxy.py``, on a unix socket.

Started as ``python bench/_signin_api.py DATA_DIR API_SOCKET CADDY_ADMIN_SOCKET``: the users,
sessions and tokens files live in DATA_DIR, and sessions and API tokens are taught to that
Caddy's maps, as ``tidepool serve`` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.sessions import CaddySessionMap, CaddyTokenMap
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.authenticator import Authenticator
from tidepool.auth.ratelimit import SignInLimiter
from tidepool.auth.sessions import SessionStore
from tidepool.auth.tokens import TokenStore
from tidepool.auth.users import UserFile
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store


def main() -> None:
    data, api_socket, admin_socket = (Path(arg) for arg in sys.argv[1:4])
    users = UserFile(data / "users.json")
    auth = Authenticator(
        users,
        SessionStore(data / "sessions.json"),
        TokenStore(data / "tokens.json"),
        SignInLimiter(),
    )
    store = memory_store()[0]
    plane = ControlPlane(
        WorkspaceService(store, default_image="bench-image"),
        store,
        "http://localhost:8080",
        admins=users.admins,
        authenticator=auth,
        session_cache=CaddySessionMap(CaddyAdmin.over_unix_socket(admin_socket)),
        token_cache=CaddyTokenMap(CaddyAdmin.over_unix_socket(admin_socket)),
    )
    uvicorn.run(create_app(plane), uds=str(api_socket), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
