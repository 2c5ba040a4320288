"""The part of a repository's ``devcontainer.json`` that Tidepool honours, read and checked.

A workspace is not a container built from the file: it is a machine made from a template. So
Tidepool takes the keys that make sense for one (environment, lifecycle commands, forwarded
ports, editor extensions) and reports every other key as a warning in the setup log, never
dropping one silently. ``image`` is not built: it names the template to pick when one has that
image.

The file is JSON with comments and trailing commas, read with ``json5`` (a maintained
parser), never by hand. Every value is checked here, before it goes near a shell or a file
in the workspace: environment names and values that could not be written safely are refused
one by one, with a warning each.

Pure: text in, a ``DevContainer`` out; the environment's ``${...}`` variables are resolved
later (``devcontainer_env``), with what only the workspace knows.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import json5

from tidepool.domain.devcontainer_env import without_variables
from tidepool.domain.extra_environment import extra_environment_problem
from tidepool.errors import InvalidInputError

#: Where the file is looked for, in this order, relative to the repository's root.
DEVCONTAINER_PATHS = (".devcontainer/devcontainer.json", ".devcontainer.json")
#: A larger file is refused rather than parsed.
MAX_BYTES = 256 * 1024
#: The lifecycle commands Tidepool runs, in the spec's order (``updateContentCommand`` runs
#: between the other two on creation).
CREATE_COMMANDS = ("onCreateCommand", "updateContentCommand", "postCreateCommand")
START_COMMAND = "postStartCommand"
_HONOURED = {
    "name",
    "containerEnv",
    "remoteEnv",
    *CREATE_COMMANDS,
    START_COMMAND,
    "forwardPorts",
    "customizations",
    "image",
    "$schema",
}
_EXTENSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,99}\.[A-Za-z0-9][A-Za-z0-9-]{0,99}$")
_VSIX_PATH = re.compile(r"^[A-Za-z0-9._/-]{1,200}\.vsix$")
MAX_COMMAND_LENGTH = 8192
#: An object-form command's entry names are shown in the log: one short printable line each.
MAX_LABEL_LENGTH = 100
#: ``customizations.vscode.settings`` larger than this (as JSON) is refused.
MAX_SETTINGS_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Step:
    """One program to run; the steps of a command run side by side when it has several."""

    #: The name the log shows (the object key, or the command's own name).
    label: str
    argv: tuple[str, ...]


#: One lifecycle command: its steps, run in parallel, all needed for success.
Command = tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class DevContainer:
    """What Tidepool will do for the file, and what it will not (``warnings``, shown to the
    user, so that no key is dropped silently)."""

    #: ``containerEnv`` and ``remoteEnv``, their ``${...}`` variables not resolved yet.
    container_env: Mapping[str, str] = field(default_factory=dict)
    remote_env: Mapping[str, str] = field(default_factory=dict)
    #: ``onCreateCommand``, ``updateContentCommand``, ``postCreateCommand``: in that order.
    create_commands: tuple[tuple[str, Command], ...] = ()
    start_command: Command = ()
    forward_ports: tuple[int, ...] = ()
    #: Marketplace ids (``publisher.name``) or ``.vsix`` paths in the repository.
    extensions: tuple[str, ...] = ()
    #: ``customizations.vscode.settings``: the IDE's settings for this workspace.
    settings: Mapping[str, Any] = field(default_factory=dict)
    image: str = ""
    warnings: tuple[str, ...] = ()


def parse_devcontainer(text: str) -> DevContainer:
    """The honoured subset of a ``devcontainer.json``; ``InvalidInputError`` when it is not
    one at all (not JSON with comments, not an object, too large)."""
    if len(text.encode()) > MAX_BYTES:
        raise InvalidInputError(f"devcontainer.json is over {MAX_BYTES // 1024} KiB.")
    try:
        document = json5.loads(text)
    except ValueError as error:
        raise InvalidInputError(
            f"devcontainer.json is not valid JSON with comments: {error}"
        ) from None
    except RecursionError:
        # json5 parses recursively: a file of deeply nested brackets is a hostile one.
        raise InvalidInputError("devcontainer.json nests too deeply to be read.") from None
    if not isinstance(document, dict):
        raise InvalidInputError("devcontainer.json must hold one object.")
    warnings = [
        f"{key!r} is not supported by Tidepool; it was ignored."
        for key in document
        if key not in _HONOURED
    ]
    container_env = _environment(document.get("containerEnv"), "containerEnv", warnings)
    remote_env = _environment(document.get("remoteEnv"), "remoteEnv", warnings)
    vscode = _vscode(document.get("customizations"), warnings)
    create = tuple(
        (key, _command(document[key], key, warnings)) for key in CREATE_COMMANDS if key in document
    )
    return DevContainer(
        container_env=container_env,
        remote_env=remote_env,
        create_commands=tuple((key, steps) for key, steps in create if steps),
        start_command=_command(document.get(START_COMMAND), START_COMMAND, warnings),
        forward_ports=_ports(document.get("forwardPorts"), warnings),
        extensions=_extensions(vscode, warnings),
        settings=_settings(vscode, warnings),
        image=_image(document.get("image"), warnings),
        warnings=tuple(warnings),
    )


def image_note(image: str, template_images: Mapping[str, str], current: str) -> str:
    """What the log says of the file's ``image``: Tidepool does not build it, but a template
    with that image is the one to pick (``template_images``: template name to image)."""
    if not image:
        return ""
    matching = sorted(name for name, known in template_images.items() if known == image)
    if current in matching:
        return f"'image' {image!r} is the image of this workspace's template {current!r}."
    if matching:
        return (
            f"'image' {image!r} is the image of template {matching[0]!r}: create the workspace"
            f" with `tidepool workspace create NAME --template {matching[0]}` to use it."
        )
    return f"'image' {image!r} matches no template here; the workspace's template was kept."


def _environment(value: Any, key: str, warnings: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        warnings.append(f"{key!r} must be an object of names and values; it was ignored.")
        return {}
    kept: dict[str, str] = {}
    for name, raw in value.items():
        text = str(raw).lower() if isinstance(raw, bool) else raw
        if isinstance(text, int | float):
            text = str(text)
        if not isinstance(text, str):
            warnings.append(f"{key}.{name}: the value is not a text; ignored.")
        elif problem := extra_environment_problem(name, without_variables(text)):
            warnings.append(f"{key}: {problem} It was ignored.")
        else:
            kept[name] = text
    return kept


def _command(value: Any, key: str, warnings: list[str]) -> Command:
    """A string runs in a shell, an array runs as it is, an object's entries run in parallel
    (each a string or an array), as the spec says."""
    if value is None:
        return ()
    if isinstance(value, dict):
        steps = [
            _step(str(label), entry) if _is_label(str(label)) else None
            for label, entry in value.items()
        ]
    else:
        steps = [_step(key, value)]
    if any(step is None for step in steps):
        warnings.append(f"{key!r} must be a string, an array of strings or an object of them.")
        return ()
    return tuple(step for step in steps if step is not None)


def _is_label(label: str) -> bool:
    return 0 < len(label) <= MAX_LABEL_LENGTH and label.isprintable()


def _step(label: str, value: Any) -> Step | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_COMMAND_LENGTH and "\x00" not in value:
        return Step(label, ("/bin/sh", "-c", value))
    if (
        isinstance(value, list)
        and value
        and all(isinstance(part, str) and "\x00" not in part for part in value)
        and sum(len(part) for part in value) <= MAX_COMMAND_LENGTH
    ):
        return Step(label, tuple(value))
    return None


def _ports(value: Any, warnings: list[str]) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        warnings.append("'forwardPorts' must be an array; it was ignored.")
        return ()
    ports: list[int] = []
    for entry in value:
        if isinstance(entry, str) and entry.startswith("localhost:"):
            entry = entry.removeprefix("localhost:")
            entry = int(entry) if entry.isdigit() else entry
        if isinstance(entry, int) and not isinstance(entry, bool) and 1 <= entry <= 65535:
            if entry not in ports:
                ports.append(entry)
        else:
            warnings.append(f"forwardPorts: {entry!r} is not a port of the workspace; ignored.")
    return tuple(ports)


def _vscode(value: Any, warnings: list[str]) -> dict[str, Any]:
    """``customizations.vscode``, every other tool's customizations a warning."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        warnings.append("'customizations' must be an object; it was ignored.")
        return {}
    warnings.extend(
        f"customizations.{tool!r} is not supported by Tidepool; it was ignored."
        for tool in value
        if tool != "vscode"
    )
    vscode = value.get("vscode")
    if vscode is None:
        return {}
    if not isinstance(vscode, dict):
        warnings.append("customizations.vscode must be an object; it was ignored.")
        return {}
    warnings.extend(
        f"customizations.vscode.{key!r} is not supported by Tidepool; it was ignored."
        for key in vscode
        if key not in ("extensions", "settings")
    )
    return vscode


def _extensions(vscode: Mapping[str, Any], warnings: list[str]) -> tuple[str, ...]:
    listed = vscode.get("extensions", [])
    if not isinstance(listed, list):
        warnings.append("customizations.vscode.extensions must be an array; it was ignored.")
        return ()
    kept: list[str] = []
    for entry in listed:
        if isinstance(entry, str) and (_EXTENSION_ID.match(entry) or _is_vsix_path(entry)):
            kept.append(entry)
        else:
            warnings.append(
                f"extensions: {entry!r} is neither publisher.name nor a .vsix file in the "
                "repository; ignored."
            )
    return tuple(kept)


def _settings(vscode: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    settings = vscode.get("settings", {})
    if not isinstance(settings, dict):
        warnings.append("customizations.vscode.settings must be an object; it was ignored.")
        return {}
    if len(json.dumps(settings)) > MAX_SETTINGS_BYTES:
        warnings.append(
            f"customizations.vscode.settings is over {MAX_SETTINGS_BYTES // 1024} KiB; "
            "it was ignored."
        )
        return {}
    return dict(settings)


def _is_vsix_path(entry: str) -> bool:
    normal = posixpath.normpath(entry)
    return bool(_VSIX_PATH.match(entry)) and normal == entry and not normal.startswith(("/", ".."))


def _image(value: Any, warnings: list[str]) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and 0 < len(value) <= 300 and value.isprintable():
        return value
    warnings.append("'image' must be an image name; it was ignored.")
    return ""
