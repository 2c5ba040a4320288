"""The API's latency, into the metrics: the time from a request's arrival to its response's
start (so the event streams, which stay open, count for how fast they answered).

A plain ASGI wrapper, as ``BodyLimit`` is: Starlette's middleware classes cost a task and a
queue per request.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidepool.services.metrics import PlatformMetrics


class Timed:
    def __init__(self, app: ASGIApp, metrics: PlatformMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = time.perf_counter() - started
                self.metrics.observe_request(scope["method"], message["status"], elapsed)
            await send(message)

        await self.app(scope, receive, timed)
