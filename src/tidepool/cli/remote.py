"""Where a remote Tidepool is, for the commands a developer runs on their own machine.

``tidepool ssh`` and the ``ProxyCommand`` that ``tidepool config-ssh`` writes need the
Tidepool's URL and an API token every time ssh connects. They come from the environment
(``TIDEPOOL_URL``, ``TIDEPOOL_TOKEN``) or, so that an editor started from a desktop icon finds
them too, from a small file: ``~/.config/tidepool/cli.json`` (``$XDG_CONFIG_HOME``), written
0600 by ``config-ssh`` and refused if anyone else may read it (as ssh refuses a key file).
Neither set means this host's own Tidepool, through the API's socket (root on the host).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tidepool.errors import InvalidInputError

URL_VARIABLE = "TIDEPOOL_URL"
TOKEN_VARIABLE = "TIDEPOOL_TOKEN"  # noqa: S105 (the variable's name, not a secret)


@dataclass(frozen=True, slots=True)
class Remote:
    #: "" for this host's own Tidepool (the API's socket).
    url: str = ""
    token: str = ""


def config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tidepool" / "cli.json"


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL of a host, without a path's surprises; else a clear
    ``InvalidInputError`` (it ends up in a command line ssh runs)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"Not a Tidepool URL: {url!r} (say http://HOST:PORT).")
    if any(c.isspace() or c in "'\"\\`$;&|<>" for c in url) or parts.query or parts.fragment:
        raise InvalidInputError(f"Not a Tidepool URL: {url!r} (no spaces, quotes or query).")
    return url.rstrip("/")


def load(url: str = "") -> Remote:
    """The remote to use: ``url`` if given, else the environment's, else the file's."""
    saved = _read_file()
    url = url or os.environ.get(URL_VARIABLE, "") or saved.url
    token = os.environ.get(TOKEN_VARIABLE, "") or (saved.token if url == saved.url else "")
    return Remote(check_url(url) if url else "", token)


def save(remote: Remote) -> Path:
    """Write ``remote`` to the config file, readable by its owner alone."""
    path = config_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.new")
    descriptor = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"url": remote.url, "token": remote.token}, file)
    partial.replace(path)
    return path


def _read_file() -> Remote:
    path = config_file()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return Remote()
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInputError(f"{path} may be read by others: chmod 600 {path}")
    data = json.loads(path.read_text())
    return Remote(str(data.get("url", "")), str(data.get("token", "")))
