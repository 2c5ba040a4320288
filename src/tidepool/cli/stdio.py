"""``tidepool ssh --stdio``: ssh's ProxyCommand, on a path that imports only what it uses.

ssh starts its ProxyCommand once per connection: every ``scp``, every ``rsync``, every
reconnect of VS Code's Remote-SSH. Its start-up is therefore time a user waits, and on a
64 MiB ``scp`` it was most of the gap to plain ssh: the whole command line (Typer, rich,
every sub-command and what they import) takes well over a second to import, this path a
fifth of that. ``python -m tidepool.cli`` (the ProxyCommand ``config-ssh`` writes) and the
``tidepool`` command hand ``ssh --stdio`` here before they import anything else; the Typer
command of the same name calls :func:`run` too, so both behave alike.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tidepool.cli.remote import load
from tidepool.domain.names import validate_workspace_name
from tidepool.errors import InvalidInputError, TidepoolError

#: ``ssh tidepool.NAME``: the prefix that marks a workspace among the user's hosts.
HOST_PREFIX = "tidepool."
USAGE = "usage: tidepool ssh --stdio [--url URL] NAME"


def is_stdio(argv: list[str]) -> bool:
    """Whether ``argv`` (without the program) asks for the ProxyCommand."""
    return argv[:2] == ["ssh", "--stdio"]


def workspace_of(host: str) -> str:
    """The workspace a host name means: ``tidepool.NAME`` or ``NAME``."""
    return validate_workspace_name(host.removeprefix(HOST_PREFIX))


def parse(argv: list[str]) -> tuple[str, str]:
    """``[--url URL] HOST`` (what follows ``ssh --stdio``) as ``(host, url)``."""
    url, hosts, words = "", [], iter(argv)
    for word in words:
        if word == "--url":
            url = next(words, "")
            if not url:
                raise InvalidInputError(f"--url needs a value. {USAGE}")
        elif word.startswith("--url="):
            url = word.removeprefix("--url=")
        elif word == "--":
            raise InvalidInputError(
                "--stdio carries ssh's own bytes; give the command to `tidepool ssh NAME -- ...`."
            )
        elif word.startswith("-"):
            raise InvalidInputError(f"Unknown option {word}. {USAGE}")
        else:
            hosts.append(word)
    if len(hosts) != 1:
        raise InvalidInputError(f"Name one workspace. {USAGE}")
    return hosts[0], url


def api_socket() -> Path:
    """This host's control plane socket: only without a URL (root on the host), so the
    settings are imported only then."""
    from tidepool.settings import get_settings  # (see the module docstring)

    return get_settings().api_socket


def run(host: str, url: str) -> None:
    """Carry ssh's stdin and stdout over the tunnel to ``host``'s workspace."""
    remote = load(url)
    workspace = workspace_of(host)
    socket = Path() if remote.url else api_socket()
    from tidepool.ssh_tunnel import bridge, open_tunnel  # (only once the input is good)

    async def go() -> None:
        await bridge(await open_tunnel(workspace, remote.url, remote.token, socket))

    asyncio.run(go())


def main(argv: list[str]) -> None:
    """``ssh --stdio ...``: run it, and say what went wrong as one line and exit code 1."""
    try:
        run(*parse(argv[2:]))
    except TidepoolError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
