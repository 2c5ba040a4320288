"""The request variables Caddy's routes hand to each other, and the type of the config.

The config is a chain: the lookup routes find the workspace and set its name, upstream and
owner; sign-in sets the user; the access, workspace and port routes read them. Those names are
written here once, because a typo on either side would not fail; it would silently match
nothing.
"""

from __future__ import annotations

from typing import Any

#: One object of Caddy's JSON config.
JSON = dict[str, Any]

#: The workspace's name, from the path (``/workspace/{name}/``) or the preview host.
WORKSPACE_PLACEHOLDER = "{http.vars.tidepool_ws}"
#: The workspace's instance address, from its route file ("" when it has none).
UPSTREAM_PLACEHOLDER = "{http.vars.tidepool_upstream}"
#: The workspace's owner, from its route file.
OWNER_PLACEHOLDER = "{http.vars.tidepool_owner}"
#: The user ``basic_auth`` signed in.
USER_PLACEHOLDER = "{http.auth.user.id}"
#: The user a ``forward_auth`` session belongs to.
SESSION_USER_PLACEHOLDER = "{http.vars.tidepool_user}"
