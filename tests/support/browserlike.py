"""An httpx client that, like a browser, sends a request again when Caddy closed its connection.

Every Caddy config change (a route, a session) stops the old servers, and they close their
idle kept-alive connections; a request written onto one at that instant gets no answer. A
browser sends it again on a fresh connection (RFC 9112, section 9.3.1), so a test that stands
for a browser does too. A test that checks Caddy itself keeps a plain client.
"""

from __future__ import annotations

from typing import Any

import httpx

from tidepool.loopback import LoopbackNames
from tidepool.retry import IDEMPOTENT_METHODS, RetryingTransport

#: A browser sends any request again, POST too, when a kept-alive connection closed before the
#: answer began: the server closed it as idle, so it never read the request.
BROWSER_RETRIES = IDEMPOTENT_METHODS | {"POST"}


def browserlike_client(**options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` (``options`` as for it) that retries as a browser does, and
    resolves ``*.localhost`` (workspace origins) to loopback as a browser does."""
    transport = LoopbackNames(RetryingTransport(methods=BROWSER_RETRIES))
    return httpx.AsyncClient(transport=transport, **options)
