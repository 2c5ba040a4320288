"""A dev container's environment, its ``${...}`` variables resolved as the spec says.

``containerEnv`` is the whole workspace's; ``remoteEnv`` is what the IDE's processes get on
top, and may read the container's (``${containerEnv:PATH}:/opt/tools/bin``). Both may read
``${localEnv:NAME}``: in Tidepool, where there is no user's own machine behind the workspace,
that is what Tidepool tells the workspace of itself (``TIDEPOOL_WORKSPACE``, ``TIDEPOOL_OWNER``,
``TIDEPOOL_TEMPLATE``, and ``/etc/tidepool/workspace.env``), as Codespaces reads it from the
codespace's own. A missing variable is its default (``${localEnv:NAME:default}``) or empty,
as the spec says.

Resolved values are checked as any other (``extra_environment_problem``): a value that turns
out unsafe to write is left out with a warning, never written.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from tidepool.domain.extra_environment import extra_environment_problem

_VARIABLE = re.compile(
    r"\$\{(?:(localEnv|containerEnv):([A-Za-z_][A-Za-z0-9_]*)(?::([^}$]*))?"
    r"|(localWorkspaceFolder|containerWorkspaceFolder"
    r"|localWorkspaceFolderBasename|containerWorkspaceFolderBasename))\}"
)


def without_variables(value: str) -> str:
    """``value`` with the variables Tidepool resolves taken out: what must be safe as it is."""
    return _VARIABLE.sub("", value)


def substitute(
    value: str, local: Mapping[str, str], container: Mapping[str, str] | None, folder: str
) -> str:
    """``value`` with its variables replaced; ``container`` None: ``${containerEnv:...}`` is
    not resolved here (in ``containerEnv`` itself, where the spec does not allow it)."""

    def one(match: re.Match[str]) -> str:
        kind, name, default, workspace = match.groups()
        if workspace:
            return posixpath.basename(folder) if workspace.endswith("Basename") else folder
        source = local if kind == "localEnv" else container
        if source is None:
            return match.group(0)
        return source.get(name, default or "")

    return _VARIABLE.sub(one, value)


def resolve_environment(
    container_env: Mapping[str, str],
    remote_env: Mapping[str, str],
    *,
    local: Mapping[str, str],
    base: Mapping[str, str],
    folder: str,
) -> tuple[dict[str, str], list[str]]:
    """The environment to write, and a warning for each pair left out. ``base`` is the
    workspace's own environment as its user's shell has it (``PATH``, ``HOME``, ...)."""
    resolved: dict[str, str] = {}
    warnings: list[str] = []
    for name, raw in container_env.items():
        value = substitute(raw, local, None, folder)
        if problem := _problem(name, value, "containerEnv"):
            warnings.append(problem)
        else:
            resolved[name] = value
    seen = {**base, **resolved}
    for name, raw in remote_env.items():
        value = substitute(raw, local, seen, folder)
        if problem := _problem(name, value, "remoteEnv"):
            warnings.append(problem)
        else:
            resolved[name] = value
    return resolved, warnings


def _problem(name: str, value: str, key: str) -> str:
    if "${containerEnv:" in value:
        return f"{key}.{name}: ${{containerEnv:...}} is for remoteEnv only; it was ignored."
    problem = extra_environment_problem(name, value)
    return f"{key}: {problem} It was ignored." if problem else ""
