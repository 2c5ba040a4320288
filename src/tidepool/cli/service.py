"""``tidepool service start|stop|status|logs``: the platform in the background.

For hosts without systemd (and for the quick start): ``start`` runs ``tidepool serve`` (the
API, the web app, the worker and Caddy) detached and returns once the API answers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import httpx
import typer

from tidepool.cli.output import console, fail, friendly_errors
from tidepool.domain.front_door import describe
from tidepool.domain.ownership import Unclaimed
from tidepool.host import daemon_keeper
from tidepool.host.daemon_keeper import FILE_NAME as KEEPER_FILE
from tidepool.host.service import BackgroundService
from tidepool.host.unclaimed_file import UnclaimedFile
from tidepool.settings import Settings, get_settings

app = typer.Typer(help="Run the platform (`tidepool serve`) in the background.")


def background_service(settings: Settings) -> BackgroundService:
    return BackgroundService(settings.data_dir, lambda: api_answers(settings))


def api_answers(settings: Settings) -> bool:
    """True when the API answers its health check on its unix socket."""
    if not settings.api_socket.exists():
        return False
    transport = httpx.HTTPTransport(uds=str(settings.api_socket))
    with (
        httpx.Client(transport=transport, base_url="http://tidepool", timeout=2) as http,
        contextlib.suppress(httpx.HTTPError),
    ):
        return http.get("/api/health").status_code == 200
    return False


def _urls(settings: Settings) -> str:
    return f"web app {settings.workspace_base_url}/app/, API {settings.workspace_base_url}/api/"


@app.command("start")
@friendly_errors
def start() -> None:
    """Start the platform unless it runs; return once its API answers."""
    settings = get_settings()
    service = background_service(settings)
    with console.status("Starting Tidepool (API, web app, worker, Caddy)..."):
        started = service.start()
    console.print(
        f"Tidepool {'started' if started else 'is already running'} (pid {service.pid()}): "
        f"{_urls(settings)}"
    )


@app.command("restart")
@friendly_errors
def restart() -> None:
    """Restart the platform (a new version, new settings) without dropping anyone: Caddy keeps
    serving and the new ``serve`` adopts it, so open terminals and IDEs stay connected."""
    settings = get_settings()
    service = background_service(settings)
    with console.status("Restarting Tidepool..."):
        was_running = service.restart()
    console.print(
        f"Tidepool {'restarted' if was_running else 'started'} (pid {service.pid()}): "
        f"{_urls(settings)}"
    )


@app.command("stop")
@friendly_errors
def stop() -> None:
    """Stop the platform and everything it started, Caddy included.

    Workspaces keep running, and their files are never touched.
    """
    settings = get_settings()
    with console.status("Stopping Tidepool..."):
        stopped = background_service(settings).stop()
    console.print("Tidepool stopped." if stopped else "Tidepool was not running.")


@app.command("status")
@friendly_errors
def status() -> None:
    """Running or not, its pid, its URLs, how its Caddy is doing (up, restarting, or backing
    off after crashes, and why), and the last error if it died.

    Exits 3 when it is not running, as service managers do; 0 while it runs, even when its
    Caddy is down: the exit code speaks of the service, whose supervisor is bringing Caddy
    back, and the text says how that goes.
    """
    settings = get_settings()
    state = background_service(settings).status()
    if state.running:
        console.print(f"Tidepool is running (pid {state.pid}): {_urls(settings)}")
        if state.front_door is not None:
            for line in describe(state.front_door, time.time()):
                console.print(line, highlight=False, markup=False)
        if state.pid is not None:
            for line in daemon_keeper.describe(settings.data_dir / KEEPER_FILE, state.pid):
                console.print(line, highlight=False, markup=False)
        for line in describe_unclaimed(UnclaimedFile.in_data_dir(settings.data_dir).read()):
            console.print(line, highlight=False, markup=False)
        return
    console.print("Tidepool is not running.")
    if state.last_error:
        console.print(f"Last error: {state.last_error}", highlight=False, markup=False)
    raise typer.Exit(3)


def describe_unclaimed(unclaimed: Sequence[Unclaimed]) -> list[str]:
    """What the last resync left alone, and the way to adopt each."""
    if not unclaimed:
        return []
    lines = [
        f"{len(unclaimed)} instance(s) are not workspaces of this database; Tidepool leaves "
        "them running and never deletes them:"
    ]
    for found in unclaimed:
        lines.append(f"  {found.instance}: {found.reason}")
    lines.append("Adopt one with `tidepool workspace adopt INSTANCE --name NAME --owner USER`.")
    return lines


@app.command("logs")
@friendly_errors
def logs(lines: int = typer.Option(50, "--lines", "-n", min=1, help="How many lines.")) -> None:
    """Print the end of the platform's log."""
    service = background_service(get_settings())
    tail = service.log_tail(lines)
    if not tail:
        fail(f"No log yet at {service.log_file}.")
    print("\n".join(tail))
