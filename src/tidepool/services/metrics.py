"""The platform's metrics, in Prometheus's text format (``GET /api/metrics``).

Most of them are read from what the platform already records, at each scrape: the event log
(status transitions, start-up phases, stops and their reasons), the workspaces (how many in
each status) and the job queue (its backlog). So every control plane sharing a database
reports the same history, and nothing on a workspace's path pays for a metric. What exists
only in one process is counted where it happens: the API's latency (``observe_request``) and
the drift each resync repaired (``count_resync``).

Every label set exists from start-up (at zero), so a dashboard never sees a missing series.
A fresh process counts from the events after its start, not the whole history (a counter
starts at zero, as Prometheus expects of a restarted process).
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tidepool.domain.activity import StopReason
from tidepool.domain.workspace import Status
from tidepool.ports import Event, HasBacklog, WorkspaceStore
from tidepool.services.resync import ResyncReport

#: The start-up phases, in order (the reconciler's events), and ``running`` at the end.
PHASES = ("instance_created", "booted", "ide_healthy", "route_live", "running")
#: What a resync can repair (``ResyncReport``'s fields that are repairs).
REPAIRS = ("orphan_instances_removed", "orphan_routes_removed", "routes_restored", "vanished")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
OUTCOMES = ("2xx", "3xx", "4xx", "5xx")
START_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120)
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
EVENT_PAGE = 1000


class PlatformMetrics:
    def __init__(
        self,
        store: WorkspaceStore,
        queue: object,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._store = store
        #: The queue's backlog, when it can tell (the database's can; a broker's cannot).
        self._backlog = queue.backlog if isinstance(queue, HasBacklog) else None
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.start_phase = Histogram(
            "tidepool_start_phase_seconds",
            "Seconds from a create or start request's first step to each start-up phase.",
            ["phase"],
            buckets=START_BUCKETS,
            registry=r,
        )
        self.transitions = Counter(
            "tidepool_workspace_transitions",
            "Workspace status transitions, by the status moved to.",
            ["status"],
            registry=r,
        )
        self.workspaces = Gauge(
            "tidepool_workspaces", "Workspaces in each status.", ["status"], registry=r
        )
        self.stops = Counter(
            "tidepool_workspace_stops", "Stop requests, by reason.", ["reason"], registry=r
        )
        self.queue_jobs = Gauge("tidepool_queue_jobs", "Jobs in the queue.", registry=r)
        self.queue_oldest = Gauge(
            "tidepool_queue_oldest_job_age_seconds",
            "How long the job that fell due first has waited.",
            registry=r,
        )
        self.repairs = Counter(
            "tidepool_resync_repairs",
            "Drift repaired by resync, by kind.",
            ["kind"],
            registry=r,
        )
        self.api = Histogram(
            "tidepool_api_request_duration_seconds",
            "API requests' duration, by method and outcome.",
            ["method", "outcome"],
            buckets=API_BUCKETS,
            registry=r,
        )
        for phase in PHASES:
            self.start_phase.labels(phase)
        for status in Status:
            self.transitions.labels(status.value)
            self.workspaces.labels(status.value)
        for reason in StopReason:
            self.stops.labels(reason.value)
        for kind in REPAIRS:
            self.repairs.labels(kind)
        for method in METHODS:
            for outcome in OUTCOMES:
                self.api.labels(method, outcome)
        self._seq: int | None = None
        #: When each workspace's current create or start began (its first step's event).
        self._began: dict[str, datetime] = {}

    def observe_request(self, method: str, status_code: int, seconds: float) -> None:
        if method in METHODS and 200 <= status_code < 600:
            self.api.labels(method, f"{status_code // 100}xx").observe(seconds)

    def count_resync(self, report: ResyncReport) -> None:
        """Count what one resync repaired."""
        for kind in REPAIRS:
            if repaired := len(getattr(report, kind)):
                self.repairs.labels(kind).inc(repaired)

    async def render(self) -> bytes:
        """The metrics as of now, in Prometheus's text format."""
        await self._read_events()
        counts = dict.fromkeys(Status, 0)
        offset = 0
        while True:
            page = await self._store.list(limit=500, offset=offset)
            for workspace in page.items:
                counts[workspace.status] += 1
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        for status, count in counts.items():
            self.workspaces.labels(status.value).set(count)
        if self._backlog is not None:
            backlog = await self._backlog()
            self.queue_jobs.set(backlog.jobs)
            self.queue_oldest.set(backlog.oldest_due_seconds)
        return generate_latest(self.registry)

    async def begin(self) -> None:
        """Count from now on (``serve`` calls it as it starts; the first scrape otherwise)."""
        self._seq = await self._store.latest_event_seq()

    async def _read_events(self) -> None:
        if self._seq is None:
            await self.begin()
            return
        while True:
            events = await self._store.events(None, after=self._seq, limit=EVENT_PAGE)
            for event in events:
                self._count(event)
                self._seq = event.seq
            if len(events) < EVENT_PAGE:
                return

    def _count(self, event: Event) -> None:
        if event.kind == "status":
            self.transitions.labels(event.value).inc()
            if event.value in (Status.CREATING.value, Status.STARTING.value):
                self._began.setdefault(event.workspace_id, event.at)
            elif event.value == Status.RUNNING.value:
                self._phase(event, "running")
                self._began.pop(event.workspace_id, None)
            elif event.value in (Status.STOPPED.value, Status.FAILED.value, Status.DELETED.value):
                self._began.pop(event.workspace_id, None)
        elif event.kind == "phase" and event.value in PHASES:
            self._phase(event, event.value)
        elif event.kind == "request" and event.value == "stop":
            reason = event.detail if event.detail in StopReason.__members__.values() else "user"
            self.stops.labels(reason).inc()

    def _phase(self, event: Event, phase: str) -> None:
        began = self._began.get(event.workspace_id)
        if began is not None:
            self.start_phase.labels(phase).observe(max((event.at - began).total_seconds(), 0))
