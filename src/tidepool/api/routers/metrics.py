"""``GET /api/metrics``: the platform's metrics for Prometheus (``services.metrics``).

For admins and tokens with the ``metrics`` scope; anyone else gets the same 401 or 403 as
for any other resource they may not read.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from prometheus_client import CONTENT_TYPE_LATEST

from tidepool.api.deps import Me, Plane
from tidepool.api.problems import declared

router = APIRouter(tags=["metrics"], responses=declared(401, 403, 404))


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(plane: Plane, me: Me) -> Response:
    """Prometheus's text format: start-up phases, transitions, workspaces by status, stops by
    reason, the queue's backlog, resync repairs and the API's latency."""
    me.check_may_read_metrics()
    if plane.metrics is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This control plane keeps no metrics.")
    return Response(await plane.metrics.render(), media_type=CONTENT_TYPE_LATEST)
