"""``tidepool serve``: the one long-running process a team runs.

It migrates the database, serves the API on a unix socket, runs the worker, and starts and
supervises Caddy, whose config it rebuilds from the database at start-up and whenever Caddy
comes back from a restart. SIGTERM (or SIGINT) stops it cleanly: no new jobs are claimed,
jobs in flight finish, the API closes, Caddy stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from tidepool import bootstrap
from tidepool.adapters.caddy import config as caddy_config
from tidepool.adapters.caddy.admin import CaddyAdmin
from tidepool.adapters.caddy.process import CaddyProcess, wait_until_serving
from tidepool.adapters.caddy.routes import CaddyRouteTable
from tidepool.adapters.caddy.sessions import CaddySessionMap
from tidepool.adapters.sqs import SqsJobQueue
from tidepool.adapters.sqs_relay import OutboxRelay
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.sessions import SessionStore, sweep_sessions
from tidepool.auth.users import UserFile
from tidepool.domain.workspace import Status
from tidepool.ports import JobQueue, WorkspaceStore
from tidepool.services.reconcile import ReconcileLimits, Reconciler
from tidepool.services.resync import live_workspaces
from tidepool.services.worker import Worker, WorkerSettings
from tidepool.services.workspaces import WorkspaceService
from tidepool.settings import Settings
from tidepool.store import migrate
from tidepool.store.sql import open_store

log = logging.getLogger(__name__)
CADDY_CHECK_SECONDS = 1.0
#: How often ended sessions are dropped from the sessions file and Caddy's session map: an
#: expired session stops opening workspaces at most this long after it expired.
SESSION_SWEEP_SECONDS = 30.0


@dataclass
class CaddySupervisor:
    """Keeps Caddy running and its config equal to what the database says."""

    process: CaddyProcess
    admin: CaddyAdmin
    store: WorkspaceStore
    options: Callable[[], caddy_config.CaddyOptions]
    #: Users are added and removed while Tidepool runs: a change reloads Caddy's accounts.
    users_file: Path
    #: With forward_auth: the sessions to sweep (and Caddy's map to keep in step with them).
    sessions: SessionStore | None = None

    def users_version(self) -> float:
        return self.users_file.stat().st_mtime if self.users_file.exists() else 0.0

    async def routes_from_database(self) -> tuple[dict[str, str], dict[str, str]]:
        """``({name: address}, {name: owner})`` of every running workspace."""
        routes, owners = {}, {}
        async for w in live_workspaces(self.store):
            if w.status is Status.RUNNING and w.address:
                routes[w.name], owners[w.name] = w.address, w.owner
        return routes, owners

    async def rebuild(self) -> None:
        """Start Caddy if needed and load the whole config: routes from the database, users
        from the users file."""
        await asyncio.to_thread(self.process.start)
        await wait_until_serving(self.admin)
        routes, owners = await self.routes_from_database()
        options = self.options()
        await CaddyRouteTable(options.routes_dir).replace_all(routes, owners)
        await self.admin.load(caddy_config.base_config(options))
        log.info("Caddy config rebuilt from the database: %d routes", len(routes))

    async def sweep_sessions(self, sessions: SessionStore) -> None:
        try:
            live_users = UserFile(self.users_file).names()
            await sweep_sessions(sessions, CaddySessionMap(self.admin), live_users)
        except Exception:
            log.exception("could not sweep ended sessions; will try again")

    async def watch(self, stop: asyncio.Event) -> None:
        pid = self.process.pid()
        users = self.users_version()
        swept = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CADDY_CHECK_SECONDS)
            if stop.is_set():
                return
            current = self.process.pid()
            if pid is None:
                pid = current  # Caddy wrote its pid file after we first looked
            if users != self.users_version():
                users = self.users_version()
                log.info("users changed; reloading Caddy's accounts")
                current = None  # rebuild below
            if self.sessions is not None and time.monotonic() - swept > SESSION_SWEEP_SECONDS:
                swept = time.monotonic()
                await self.sweep_sessions(self.sessions)
            if current is None or current != pid:
                log.warning("Caddy is gone or was restarted; bringing it back")
                try:
                    await self.rebuild()
                except Exception:
                    log.exception("could not restart Caddy; will try again")
                    continue
                pid = self.process.pid()


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    await asyncio.to_thread(migrate.upgrade, url)
    store, queue = open_store(url)
    async with (
        bootstrap.opened_runtime(settings) as runtime,
        bootstrap.opened_route_table(settings) as routes,
        httpx.AsyncClient() as http,
    ):
        admin = bootstrap.caddy_admin(settings)
        authenticator = bootstrap.authenticator(settings)
        supervisor = CaddySupervisor(
            bootstrap.caddy_process(settings),
            admin,
            store,
            lambda: bootstrap.caddy_options(settings),
            settings.users_file,
            authenticator.sessions if authenticator is not None else None,
        )
        await supervisor.rebuild()
        reconciler = Reconciler(
            store,
            runtime,
            routes,
            http,
            ReconcileLimits(cpus=settings.workspace_cpus, memory_mib=settings.workspace_memory_mib),
        )
        work_queue, relay = job_queues(settings, queue)
        worker = Worker(
            store,
            work_queue,
            runtime,
            routes,
            reconciler,
            WorkerSettings(
                lease_seconds=settings.worker_lease_seconds,
                resync_interval=settings.resync_interval_seconds,
                instance_prefix=settings.instance_prefix,
            ),
        )
        plane = ControlPlane(
            workspaces=WorkspaceService(
                store, default_image=settings.image_alias, instance_prefix=settings.instance_prefix
            ),
            store=store,
            public_url=settings.workspace_base_url,
            auth=settings.auth == "basic",
            admins=UserFile(settings.users_file).admins,
            authenticator=authenticator,
            session_cache=CaddySessionMap(admin) if authenticator is not None else None,
            secure_cookies=settings.tls != "off",
            domain=settings.domain,
            preview_domain=settings.preview_domain,
        )
        server = api_server(plane, settings)
        tasks = [
            asyncio.create_task(worker.run(stop), name="worker"),
            *([asyncio.create_task(relay.run(stop), name="sqs-relay")] if relay else []),
            asyncio.create_task(supervisor.watch(stop), name="caddy-supervisor"),
            asyncio.create_task(server.serve(), name="api"),
        ]
        for task in tasks:
            task.add_done_callback(_report_crash)
        log.info(
            "tidepool serve: API on %s, Caddy on %s",
            settings.api_socket,
            settings.workspace_base_url,
        )
        await stop.wait()
        server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(supervisor.process.stop)
        await admin.aclose()
        if work_queue is not queue:
            await work_queue.aclose()
    await _close(store, queue)


def job_queues(settings: Settings, outbox: JobQueue) -> tuple[JobQueue, OutboxRelay | None]:
    """The queue workers claim from, and the relay that feeds it if it is not the outbox.

    With SQS, jobs still enter through the database outbox (in the request's transaction);
    the relay moves them to SQS and workers claim only from SQS.
    """
    if settings.queue == "sqs":
        sqs = SqsJobQueue.from_settings(settings)
        return sqs, OutboxRelay(outbox, sqs)
    return outbox, None


def _report_crash(task: asyncio.Task[None]) -> None:
    """A background task that ends early is a bug: say so loudly instead of going quiet."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception(), exc_info=task.exception())


def api_server(plane: ControlPlane, settings: Settings) -> uvicorn.Server:
    settings.api_socket.unlink(missing_ok=True)
    config = uvicorn.Config(
        create_app(plane),
        uds=str(settings.api_socket),
        log_level="warning",
        lifespan="off",
        access_log=False,
    )
    return _QuietServer(config)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``serve()`` owns SIGTERM and SIGINT."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


async def _close(store: WorkspaceStore, queue: JobQueue) -> None:
    await queue.aclose()
    closer = getattr(store, "aclose", None)
    if closer is not None:
        await closer()
