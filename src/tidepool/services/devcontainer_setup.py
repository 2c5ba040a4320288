"""The repository's ``devcontainer.json``, honoured in a workspace after its clone.

In the spec's order: the file read (every key Tidepool ignores is a warning in the log), the
environment written (``containerEnv``, then ``remoteEnv``, variables resolved), the forwarded
ports recorded on the workspace, then once per workspace ``onCreateCommand``,
``updateContentCommand`` and ``postCreateCommand`` (an object's entries side by side; a
failure stops the later ones and is shown), the extensions and the IDE settings, and at
every start ``postStartCommand``. All of it runs behind the open IDE, as the user.

The environment reaches new terminals at once (``/etc/bash.bashrc`` reads it), login shells
(SSH) through ``/etc/profile.d``, and code-server itself, with its tasks and extensions, from
its next start: restarting it under a user who just opened it would cut their session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import json5

from tidepool.domain.devcontainer import Command, DevContainer, image_note, parse_devcontainer
from tidepool.domain.devcontainer_env import resolve_environment
from tidepool.domain.extra_environment import render_extra_environment
from tidepool.errors import ConflictError, InvalidInputError, TidepoolError
from tidepool.ports import ExecResult, WorkspaceStore
from tidepool.services import setup_scripts as scripts
from tidepool.services.setup_steps import HOME, WORKSPACE_UID, SetupSteps

#: Template names to their images (the file's ``image`` names the template to pick).
TemplateImages = Callable[[], Mapping[str, str]]
#: Where the dev container's forwarded ports are kept on the workspace.
PORTS_KEY = "forward_ports"


class DevContainerSetup:
    def __init__(self, template_images: TemplateImages) -> None:
        self._template_images = template_images

    async def run(self, steps: SetupSteps) -> None:
        container = await _read(steps, self._template_images)
        if container is None:
            return
        environment = await _environment(steps, container)
        await record_ports(steps.store, steps.workspace.id, container.forward_ports)
        if not await _create(steps, container, environment):
            return
        if container.start_command:
            await _command(steps, "postStartCommand", container.start_command, environment)


async def _read(steps: SetupSteps, template_images: TemplateImages) -> DevContainer | None:
    try:
        done = await steps.call(scripts.READ_DEVCONTAINER)
    except TidepoolError as error:
        await steps.tell("devcontainer", f"The dev container file could not be read: {error}")
        return None
    if done.exit_code == scripts.NO_DEVCONTAINER:
        return None
    path, _, text = done.stdout.partition("\n")
    try:
        container = parse_devcontainer(text)
    except InvalidInputError as error:
        await steps.tell("devcontainer", f"{path}: {error} It was not used.")
        return None
    lines = [f"Read {path}."]
    lines += [f"warning: {warning}" for warning in container.warnings]
    if note := image_note(container.image, template_images(), steps.workspace.template):
        lines.append(note)
    await steps.tell("devcontainer", "\n".join(lines))
    return container


async def _environment(steps: SetupSteps, container: DevContainer) -> dict[str, str]:
    """Resolve and write the environment; the resolved pairs (for the lifecycle commands)."""
    if not container.container_env and not container.remote_env:
        return {}
    try:
        base, told = _environments(await steps.call(scripts.READ_ENVIRONMENTS))
        workspace = steps.workspace
        local = {
            **told,
            "TIDEPOOL_WORKSPACE": workspace.name,
            "TIDEPOOL_OWNER": workspace.owner,
            "TIDEPOOL_TEMPLATE": workspace.template,
        }
        resolved, warnings = resolve_environment(
            container.container_env,
            container.remote_env,
            local=local,
            base=base,
            folder=steps.folder,
        )
        env_file, profile = render_extra_environment(resolved)
        await steps.runtime.push_file(steps.instance, scripts.ENVIRONMENT_FILE, env_file)
        await steps.runtime.push_file(steps.instance, scripts.ENVIRONMENT_PROFILE, profile)
        applied = await steps.call(scripts.APPLY_ENVIRONMENT, user=None)
    except TidepoolError as error:
        await steps.tell("environment", f"The environment could not be written: {error}")
        return {}
    lines = [f"warning: {warning}" for warning in warnings]
    if applied.ok:
        names = ", ".join(sorted(resolved)) or "none"
        lines.append(f"Environment set for new terminals: {names}.")
    else:
        lines.append(f"The environment was not applied: {applied.stdout + applied.stderr}")
    await steps.tell("environment", "\n".join(lines))
    return resolved


def _environments(done: ExecResult) -> tuple[dict[str, str], dict[str, str]]:
    """``READ_ENVIRONMENTS``'s answer: the login shell's environment, and Tidepool's."""
    try:
        raw = base64.b64decode(done.stdout, validate=True)
    except binascii.Error:
        return {}, {}
    login, _, told = raw.partition(b"\0\0")
    base = dict(
        entry.split("=", 1) for entry in login.decode(errors="replace").split("\0") if "=" in entry
    )
    local = dict(
        line.split("=", 1) for line in told.decode(errors="replace").splitlines() if "=" in line
    )
    return base, local


async def record_ports(store: WorkspaceStore, workspace_id: str, ports: tuple[int, ...]) -> None:
    """Keep the forwarded ports on the workspace (shown with their URLs; the event tells the
    web app), re-reading it when a change meanwhile made the save conflict."""
    for _ in range(5):
        workspace = await store.get_by_id(workspace_id)
        if list(workspace.runtime_state.get(PORTS_KEY, [])) == list(ports):
            return
        state = {**workspace.runtime_state, PORTS_KEY: list(ports)}
        with contextlib.suppress(ConflictError):
            shown = ",".join(str(port) for port in ports)
            await store.save(replace(workspace, runtime_state=state), event=("ports", shown, ""))
            return


async def _create(steps: SetupSteps, container: DevContainer, env: Mapping[str, str]) -> bool:
    """The creation commands, extensions and settings, once per workspace; False when a
    command failed (the later ones, and ``postStartCommand``, do not run)."""
    if not (container.create_commands or container.extensions or container.settings):
        return True
    marker = {"TIDEPOOL_MARKER": scripts.CREATED_MARKER}
    with contextlib.suppress(TidepoolError):
        if (await steps.call(scripts.CREATED_ALREADY, env=marker)).ok:
            return True
    for key, command in container.create_commands:
        if not await _command(steps, key, command, env):
            await steps.tell(key, f"{key} failed: the later commands were not run.")
            return False
    for extension in container.extensions:
        await steps.run(
            "extensions", scripts.INSTALL_EXTENSION, env={"TIDEPOOL_EXTENSION": extension}
        )
    if container.settings:
        await _settings(steps, container.settings)
    with contextlib.suppress(TidepoolError):
        await steps.call(scripts.MARK_CREATED, env=marker)
    return True


async def _command(steps: SetupSteps, key: str, command: Command, env: Mapping[str, str]) -> bool:
    """One lifecycle command, its steps side by side; True when every step worked."""

    async def one(index: int, label: str, argv: tuple[str, ...]) -> bool:
        shown = key if label == key else f"{key}: {label}"
        return await steps.run(shown, scripts.IN_FOLDER, *argv, env=env, log_name=f"{key}-{index}")

    results = await asyncio.gather(
        *(one(index, step.label, step.argv) for index, step in enumerate(command))
    )
    return all(results)


async def _settings(steps: SetupSteps, settings: Mapping[str, Any]) -> None:
    """Merge the IDE settings into code-server's machine settings (the user's own override
    them), keeping whatever else that file holds."""
    try:
        current = (await steps.call(scripts.READ_SETTINGS)).stdout
        try:
            existing = json5.loads(current) if current.strip() else {}
        except ValueError:
            existing = {}
        merged = {**(existing if isinstance(existing, dict) else {}), **settings}
        await steps.runtime.push_file(
            steps.instance,
            posixpath.join(HOME, scripts.MACHINE_SETTINGS),
            json.dumps(merged, indent=2).encode() + b"\n",
            uid=WORKSPACE_UID,
            gid=WORKSPACE_UID,
        )
    except TidepoolError as error:
        await steps.tell("settings", f"The IDE settings could not be written: {error}")
        return
    await steps.tell("settings", f"IDE settings set: {', '.join(sorted(settings))}.")
