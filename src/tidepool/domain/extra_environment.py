"""The environment a workspace's template or its repository's dev container adds, checked.

Unlike the runtime's own ``environment.render_env_file`` (a few upper-case names Tidepool
chose), these names and values come from users and repositories, so they are checked one pair
at a time: a caller (the ``devcontainer.json`` parser) can skip a bad pair with a warning
instead of refusing the whole file. The values are written into a systemd environment file and
a shell script sourced by login shells; anything either would read as syntax (a quote, a
backslash, ``$``, a backquote, a line break) is refused, so no value can smuggle a second
setting or run a command. No ``${...}`` substitution is done.

Issue 28 groundwork: nothing writes these files into a workspace yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tidepool.errors import InvalidInputError

#: Where the environment of a workspace's template and dev container is kept inside it: read
#: by code-server (a systemd drop-in) and by login shells (``/etc/profile.d``).
EXTRA_ENV_PATH = "/etc/tidepool/environment.env"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: Characters a value may not hold: they would end the line, or be read by a shell or systemd.
_FORBIDDEN = frozenset("\n\r\"'\\$`\x00")
MAX_VALUE_LENGTH = 4096


def extra_environment_problem(name: str, value: str) -> str:
    """Why ``name=value`` cannot be set in a workspace (``""``: it can).

    A message rather than an exception, so that one bad pair among many is a warning."""
    if not _NAME.match(name):
        return f"{name!r} is not a variable name (letters, digits and '_', not a digit first)."
    if (
        len(value) > MAX_VALUE_LENGTH
        or any(ch in _FORBIDDEN for ch in value)
        or not value.isprintable()
    ):
        return (
            f"the value of {name} holds a quote, a backslash, '$', '`', a line break or another"
            f" control character, or is over {MAX_VALUE_LENGTH} characters (no ${{...}}"
            " substitution is done)."
        )
    return ""


def render_extra_environment(environment: Mapping[str, str]) -> tuple[bytes, bytes]:
    """The systemd environment file and the ``/etc/profile.d`` script for ``environment``.

    Every pair is checked again (``InvalidInputError`` for the first bad one): the files are
    the last step before a shell, so they do not trust their caller to have checked."""
    for name, value in environment.items():
        if problem := extra_environment_problem(name, value):
            raise InvalidInputError(problem)
    pairs = sorted(environment.items())
    env_file = "".join(f"{name}={value}\n" for name, value in pairs)
    profile = "# Written by Tidepool: the workspace's template and dev container environment.\n"
    profile += "".join(f"export {name}='{value}'\n" for name, value in pairs)
    return env_file.encode(), profile.encode()
