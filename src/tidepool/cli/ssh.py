"""``tidepool ssh`` and ``tidepool config-ssh``: a workspace over SSH, through the front door.

``tidepool ssh NAME [-- COMMAND]`` runs the real ``ssh`` (so keys, agents, ``-L`` and
``scp``/``rsync`` all work as usual) with ``tidepool ssh --stdio NAME`` as its
``ProxyCommand``, which carries the bytes over the tunnel (``tidepool.ssh_tunnel``).
``config-ssh`` writes the same as a ``Host tidepool.*`` block into ``~/.ssh/config`` so that
``ssh tidepool.NAME``, VS Code's Remote-SSH and JetBrains Gateway find every workspace.

The far end's host key is not checked (``StrictHostKeyChecking no``, no known-hosts file):
the tunnel already reached the workspace the control plane chose for this user, over the
Tidepool's own URL, and every re-created workspace has new host keys that would otherwise
stop ssh with a warning about a changed key.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import typer

from tidepool.cli import stdio
from tidepool.cli.output import console, fail, friendly_errors
from tidepool.cli.remote import Remote, check_url, load, save
from tidepool.cli.stdio import HOST_PREFIX, workspace_of
from tidepool.domain.marked_block import Markers
from tidepool.settings import get_settings

SSH_CONFIG_MARKERS = Markers(
    "# >>> tidepool: written by `tidepool config-ssh` (`tidepool config-ssh --remove` removes it)",
    "# <<< tidepool",
)
UrlOption = typer.Option("", "--url", help="A remote Tidepool's URL (else TIDEPOOL_URL or saved).")


def proxy_command(remote: Remote, host: str) -> list[str]:
    """What ssh runs to reach ``host`` (``%h`` in a config file)."""
    url = ["--url", remote.url] if remote.url else []
    return [sys.executable, "-m", "tidepool.cli", "ssh", "--stdio", *url, host]


def ssh_options(remote: Remote, host: str) -> list[str]:
    return [
        f"ProxyCommand={shlex.join(proxy_command(remote, host))}",
        f"User={get_settings().workspace_user}",
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "LogLevel=ERROR",
    ]


def ssh(
    name: str = typer.Argument(..., help="The workspace (NAME or tidepool.NAME)."),
    command: list[str] = typer.Argument(None, help="Run this instead of a shell (after --)."),  # noqa: B008
    stdio: bool = typer.Option(False, "--stdio", help="Be ssh's ProxyCommand (stdin/stdout)."),
    url: str = UrlOption,
) -> None:
    """Open a shell in a workspace, or run COMMAND there and exit with its exit code."""
    run = friendly_errors(_stdio if stdio else _ssh)
    run(name, command or [], url)


def _stdio(name: str, command: list[str], url: str) -> None:
    if command:
        fail("--stdio carries ssh's own bytes; give the command to `tidepool ssh NAME -- ...`.")
    stdio.run(name, url)


def _ssh(name: str, command: list[str], url: str) -> None:
    remote = load(url)
    host = HOST_PREFIX + workspace_of(name)
    program = shutil.which("ssh")
    if program is None:
        fail("OpenSSH's ssh is not installed (apt install openssh-client).")
    argv = [program]
    for option in ssh_options(remote, host):
        argv += ["-o", option]
    argv += ["--", host, *command]  # (after the host, every word is the remote command's)
    os.execv(program, argv)  # noqa: S606 (ssh takes over the terminal; its exit code is ours)


def config_ssh(
    url: str = UrlOption,
    remove: bool = typer.Option(False, "--remove", help="Take Tidepool's block out again."),
    config: Path = typer.Option(  # noqa: B008
        Path("~/.ssh/config"), "--config", help="The ssh config file to write."
    ),
) -> None:
    """Let `ssh tidepool.NAME` (and desktop IDEs) reach every workspace; safe to repeat."""
    friendly_errors(_config_ssh)(url, remove, config.expanduser())


def _config_ssh(url: str, remove: bool, config: Path) -> None:
    existing = config.read_text() if config.exists() else ""
    if remove:
        config.write_text(SSH_CONFIG_MARKERS.merge(existing, []))
        console.print(f"Removed Tidepool's hosts from {config}.")
        return
    remote = load(check_url(url) if url else "")
    if remote.url:
        saved = save(remote)
        console.print(f"Saved the URL{' and token' if remote.token else ''} in {saved} (0600).")
        if not remote.token:
            console.print("[yellow]No TIDEPOOL_TOKEN: create one with the ssh scope first.[/]")
    block = [f"Host {HOST_PREFIX}*"]
    block += [f"    {option.replace('=', ' ', 1)}" for option in ssh_options(Remote(), "%h")]
    config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    merged = SSH_CONFIG_MARKERS.merge(existing, block)
    if merged != existing:
        partial = config.with_name(f".{config.name}.tidepool")
        partial.write_text(merged)
        partial.chmod(config.stat().st_mode & 0o777 if config.exists() else 0o600)
        partial.replace(config)
    where = remote.url or "this host's Tidepool"
    console.print(f"`ssh {HOST_PREFIX}NAME` now reaches workspace NAME on {where} ({config}).")
