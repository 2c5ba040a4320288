"""``tidepool serve``: the one long-running process a team runs.

It builds the application (``bootstrap.build``), serves the API on a unix socket, runs the
worker, and keeps Caddy up through the front-door supervisor, which converges the routes over
the database at start-up and whenever Caddy comes back. SIGTERM (or SIGINT) stops it cleanly:
no new jobs are claimed, jobs in flight finish, the API closes, Caddy stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import uvicorn

from tidepool import bootstrap
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.auth.grants import grant_source
from tidepool.auth.revocation import GrantRevoker
from tidepool.auth.session_proof import cookies_can_be_planted
from tidepool.auth.sessions import SessionStore, sweep_sessions
from tidepool.auth.token_cache import TOKEN_SWEEP_SECONDS, sweep_tokens
from tidepool.host import daemons, revive
from tidepool.host.connections import cut_connections
from tidepool.host.daemon_keeper import CHECK_SECONDS, DaemonKeeper, host_daemons
from tidepool.host.daemon_keeper import FILE_NAME as KEEPER_FILE
from tidepool.host.service import keep_private, serve_lock
from tidepool.policies import idle_choices
from tidepool.services import route_follower
from tidepool.services.authorized_keys import KeySync
from tidepool.services.worker import Worker
from tidepool.settings import Settings
from tidepool.sign_in_records import handshake_codes, users

log = logging.getLogger(__name__)
#: How often ended sessions are dropped from the sessions store and Caddy's session map: an
#: expired session stops opening workspaces at most this long after it expired, and one
#: signed out through another serve (sharing PostgreSQL) stops being admitted by this one's
#: Caddy within it (one Caddy admin read per sweep).
SESSION_SWEEP_SECONDS = 2.0
#: How often a control plane tries for the lead (or confirms it holds it): the longest the
#: once-only work waits after its leader died.
LEAD_CHECK_SECONDS = 5.0
#: How often grants are checked against users, sessions, admins and workspaces: revocation
#: reaches open terminals within this (plus the time to cut them), well inside 30 s; and it
#: is shorter than any workspace's boot, so a name deleted and taken again by someone else
#: has lost its old grants before the new workspace answers.
GRANT_SWEEP_SECONDS = 2.0
#: How long a ``serve`` being replaced waits for the next one to take its API socket over.
HAND_OVER_SECONDS = 60.0
#: After that, how long it still answers what was already sent to its socket.
DRAIN_SECONDS = 0.3
#: How often serve checks the host while it runs: a firewall ruleset flushed by hand or by
#: another tool is put back, and the pool's quotas made to count again, within this.
HOST_CHECK_SECONDS = 10.0


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    restart: asyncio.Event | None = None,
    take_over: int | None = None,
) -> None:
    """Serve until ``stop``; Caddy stops too unless ``restart`` is set by then.
    ``take_over`` is the pid of a running ``serve`` this one replaces (a restart)."""
    # Everything serve and its Caddy write (the database, logs, config, autosave, sessions)
    # is private to root from its first byte; what an older version left open is closed.
    os.umask(0o077)
    keep_private(settings.data_dir)
    with serve_lock(settings.data_dir, take_over=take_over) as release_lock:
        await _serve(settings, stop, restart or asyncio.Event(), release_lock)


async def _serve(
    settings: Settings,
    stop: asyncio.Event,
    restart: asyncio.Event,
    release_lock: Callable[[], None],
) -> None:
    if settings.open_network_without_sign_in:
        log.warning(
            "OPEN WITHOUT SIGN-IN: Caddy serves %s:%d to the network with auth = none. Anyone "
            "who reaches it gets a shell, and sudo, in every workspace. Set auth to close it.",
            settings.listen_host or "*",
            settings.http_port,
        )
    if settings.paths_shared_by_users:
        log.warning(
            "WORKSPACES SHARE ONE ORIGIN: workspace_paths = serve with more than one possible "
            "user. Script served by any workspace (a dev server, an extension) runs with the "
            "viewer's session and can act as them, an admin included. Remove the setting to "
            "give each workspace its own origin."
        )
    if revive.applies(settings):
        await revive.bring_back(settings, bootstrap.incus_client(settings))
    async with bootstrap.build(settings, setup_behind=True) as app:
        await app.metrics.begin()
        await app.supervisor.rebuild()
        authenticator = bootstrap.authenticator(settings)
        admin = bootstrap.caddy_admin(settings)
        session_cache = bootstrap.session_cache(admin) if authenticator is not None else None
        token_cache = bootstrap.token_cache(admin) if authenticator is not None else None
        work_queue, relay = bootstrap.job_queues(settings, app.queue)
        grants = bootstrap.grant_store(settings)
        revoker = (
            GrantRevoker(
                grants=grants,
                store=app.store,
                routes=app.routes,
                users=users(settings).names,
                admins=users(settings).admins,
                live_sources=_live_sources(authenticator.sessions) if authenticator else None,
                cut=cut_connections,
            )
            if grants is not None
            else None
        )
        plane = ControlPlane(
            workspaces=app.workspaces,
            store=app.store,
            public_url=settings.workspace_base_url,
            auth=settings.auth == "basic",
            admins=users(settings).admins,
            authenticator=authenticator,
            session_cache=session_cache,
            token_cache=token_cache,
            secure_cookies=settings.tls != "off",
            cookies_need_proof=authenticator is not None
            and cookies_can_be_planted(settings.workspace_base_url, settings.tls != "off"),
            addresses=settings.workspace_addresses,
            grants=grants,
            codes=handshake_codes(settings) if grants is not None else None,
            revoke_grants=revoker.sweep if revoker is not None else None,
            audit=app.audit,
            ssh_keys=app.ssh_keys,
            pool_status=app.pool.status if app.pool else list,
            activity_of=app.activity.activity,
            activity_version=app.activity.version,
            metrics=app.metrics,
            idle_choices=idle_choices(settings),
            personal=app.personal,
            mover=app.mover,
            homes=app.home,
            template_image=app.workspaces.catalog.image_of,
        )
        keeper = None
        if revive.applies(settings) and not daemons.systemd_is_init():
            keeper = DaemonKeeper(
                host_daemons(settings.incus_socket), settings.data_dir / KEEPER_FILE
            )
            # The first look before the API answers: every death from then on is seen, even
            # one another serve on this host heals before the next look.
            await keeper.look()
        server = api_server(plane, settings)
        key_sync = KeySync(app.key_delivery, app.store, app.ssh_keys.version, time.monotonic)
        worker = app.worker(work_queue)
        # Lead (or not) before the worker's first resync, which only a leader's repairs.
        await app.leadership.check()
        leading = lambda: app.leadership.leading  # noqa: E731 (read at each use)
        app.activity.acts = leading
        tasks = [
            asyncio.create_task(worker.run(stop), name="worker"),
            *([asyncio.create_task(relay.run(stop), name="sqs-relay")] if relay else []),
            asyncio.create_task(app.supervisor.watch(stop), name="caddy-supervisor"),
            asyncio.create_task(server.serve(), name="api"),
            *([asyncio.create_task(app.pool.keep(stop, leading), name="pool")] if app.pool else []),
            asyncio.create_task(key_sync.keep(stop), name="ssh-keys"),
            asyncio.create_task(app.activity.keep(stop), name="activity"),
            asyncio.create_task(app.setup_runner.keep(stop), name="setups"),
        ]
        if app.homes is not None:
            every = settings.snapshot_sweep_seconds
            tasks.append(asyncio.create_task(app.homes.keep(stop, every, leading), name="homes"))
        lead = _every(LEAD_CHECK_SECONDS, stop, app.leadership.check, "check the lead")
        tasks.append(asyncio.create_task(lead, name="leadership"))
        if app.shares_database:
            following = route_follower.follow(app.store, app.routes, stop)
            tasks.append(asyncio.create_task(following, name="route-follower"))
        if authenticator is not None and session_cache is not None:
            sessions, cache, everyone = authenticator.sessions, session_cache, users(settings)

            async def sweep() -> int:
                return await sweep_sessions(sessions, cache, everyone.names())

            sweeper = _every(SESSION_SWEEP_SECONDS, stop, sweep, "sweep ended sessions")
            tasks.append(asyncio.create_task(sweeper, name="session-sweeper"))
        if authenticator is not None and token_cache is not None:
            tokens, known_tokens = authenticator.tokens, token_cache
            known_users = users(settings)

            async def sweep_cached_tokens() -> int:
                return await sweep_tokens(tokens, known_tokens, known_users.names())

            token_sweeper = _every(
                TOKEN_SWEEP_SECONDS, stop, sweep_cached_tokens, "sweep tokens Caddy admits"
            )
            tasks.append(asyncio.create_task(token_sweeper, name="token-sweeper"))
        if keeper is not None:
            keeping = _every(CHECK_SECONDS, stop, keeper.check, "keep incusd and lxcfs alive")
            tasks.append(asyncio.create_task(keeping, name="daemon-keeper"))
        if revive.applies(settings):
            # Two loops, so that one check that keeps failing never starves the other.
            checks = (
                ("firewall", revive.keep_firewall, "check the firewall"),
                ("quotas", revive.keep_quotas, "check the disk quotas"),
            )
            for name, keep, what in checks:
                keeping = _every(HOST_CHECK_SECONDS, stop, partial(keep, settings), what)
                tasks.append(asyncio.create_task(keeping, name=f"{name}-keeper"))
        if revoker is not None:
            revoking = _every(GRANT_SWEEP_SECONDS, stop, revoker.sweep, "revoke grants")
            tasks.append(asyncio.create_task(revoking, name="grant-revoker"))
        for task in tasks:
            task.add_done_callback(_report_crash)
        log.info(
            "tidepool serve: API on %s, Caddy on %s",
            settings.api_socket,
            settings.workspace_base_url,
        )
        await stop.wait()
        if restart.is_set():
            api = next(task for task in tasks if task.get_name() == "api")
            await _hand_over([t for t in tasks if t is not api], worker, release_lock, server)
        server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        if restart.is_set():
            log.info("restarting: Caddy keeps serving for the next serve to adopt")
        else:
            await app.front_door.stop()
        await admin.aclose()
        if work_queue is not app.queue:
            await work_queue.aclose()


async def _hand_over(
    background: list[asyncio.Task[None]],
    worker: Worker,
    release_lock: Callable[[], None],
    server: _QuietServer,
) -> None:
    """A restart, seen from the ``serve`` being replaced: everything but the API stops now,
    this worker's jobs go back to the queue, and the lock is let go for the next ``serve``.
    The API answers until the next one's socket has taken its place (or ``HAND_OVER_SECONDS``
    passed), then a moment more: a connection already made to this socket is answered here,
    never reset, and one made after goes to the next ``serve``."""
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    handed = await worker.hand_back()
    release_lock()
    log.info("restarting: %d job(s) handed back; the API answers until it is replaced", handed)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HAND_OVER_SECONDS
    while server.still_bound() and loop.time() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(DRAIN_SECONDS)


async def _every(
    seconds: float, stop: asyncio.Event, action: Callable[[], Awaitable[object]], what: str
) -> None:
    """Run ``action`` every ``seconds`` until ``stop``; a failure is logged and retried."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        if stop.is_set():
            return
        try:
            await action()
        except Exception:
            log.exception("could not %s; will try again", what)


def _live_sources(sessions: SessionStore) -> Callable[[], set[str]]:
    """The live sessions as grants name their source (``grants.grant_source``)."""
    return lambda: {grant_source(key) for key in sessions.live_keys()}


def _report_crash(task: asyncio.Task[None]) -> None:
    """A background task that ends early is a bug: say so loudly instead of going quiet."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception(), exc_info=task.exception())


def api_server(plane: ControlPlane, settings: Settings) -> _QuietServer:
    """The API on its unix socket, mode 0600: a request there acts as the host's admin (or
    as any user it names), so only root may connect. Bound here, not by uvicorn, which
    would open it to everyone (0666)."""
    settings.api_socket.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(settings.api_socket))  # under serve's umask: 0600 from the start
    os.chmod(settings.api_socket, 0o600)
    bound = os.stat(settings.api_socket)
    config = uvicorn.Config(
        create_app(plane),
        fd=sock.fileno(),
        log_level="warning",
        lifespan="off",
        access_log=False,
    )
    return _QuietServer(config, sock, settings.api_socket, bound.st_ino)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``serve()`` owns SIGTERM and SIGINT."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, path: Path, inode: int) -> None:
        super().__init__(config)
        #: The bound socket uvicorn serves a duplicate of: kept open as long as the server.
        self.bound = sock
        self._path, self._inode = path, inode

    def still_bound(self) -> bool:
        """True while the socket's path is this server's (a next ``serve`` replaces it)."""
        try:
            return os.stat(self._path).st_ino == self._inode
        except FileNotFoundError:
            return False

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()
