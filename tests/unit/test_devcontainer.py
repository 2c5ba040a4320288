"""The devcontainer.json subset: what is honoured, in the spec's shapes, and every other key
a warning, never dropped silently."""

from __future__ import annotations

import pytest

from tidepool.domain.devcontainer import Step, image_note, parse_devcontainer
from tidepool.domain.devcontainer_env import resolve_environment
from tidepool.errors import InvalidInputError

FULL = """
// A dev container as people write them: comments, trailing commas.
{
  "name": "app",
  "image": "mcr.microsoft.com/devcontainers/python:3.12",
  "features": {"ghcr.io/devcontainers/features/node:1": {}},
  "containerEnv": {"APP_MODE": "dev", "WORKERS": 4, "DEBUG": true},
  "remoteEnv": {"EDITOR": "vim", "TOOLS": "${containerEnv:PATH}:${localEnv:TOOL_DIR:/opt}"},
  "onCreateCommand": ["make", "deps"],
  "postCreateCommand": "echo created > created.txt",
  "postStartCommand": {"server": "python3 -m http.server 8081", "watch": ["make", "watch"]},
  "forwardPorts": [8081, "localhost:9000", "db:5432", 8081],
  "customizations": {
    "vscode": {
      "extensions": ["ms-python.python", "tools/hello.vsix", "../escape.vsix", "x"],
      "settings": {"editor.tabSize": 2},
    },
    "codespaces": {},
  },
  "postAttachCommand": "echo attached",
}
"""


def test_the_honoured_keys_are_read_in_their_shapes() -> None:
    container = parse_devcontainer(FULL)
    assert container.container_env == {"APP_MODE": "dev", "WORKERS": "4", "DEBUG": "true"}
    assert container.remote_env == {
        "EDITOR": "vim",
        "TOOLS": "${containerEnv:PATH}:${localEnv:TOOL_DIR:/opt}",
    }
    assert container.settings == {"editor.tabSize": 2}
    assert container.create_commands == (
        ("onCreateCommand", (Step("onCreateCommand", ("make", "deps")),)),
        (
            "postCreateCommand",
            (Step("postCreateCommand", ("/bin/sh", "-c", "echo created > created.txt")),),
        ),
    )
    assert container.start_command == (
        Step("server", ("/bin/sh", "-c", "python3 -m http.server 8081")),
        Step("watch", ("make", "watch")),
    )
    assert container.forward_ports == (8081, 9000)
    assert container.extensions == ("ms-python.python", "tools/hello.vsix")
    assert container.image == "mcr.microsoft.com/devcontainers/python:3.12"


def test_every_ignored_key_is_a_warning() -> None:
    warnings = "\n".join(parse_devcontainer(FULL).warnings)
    for ignored in (
        "'features'",
        "'postAttachCommand'",
        "customizations.'codespaces'",
        "'../escape.vsix'",
        "'x'",
        "'db:5432'",
    ):
        assert ignored in warnings, ignored
    assert "'name'" not in warnings and "'image'" not in warnings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "one object"),
        ("{'a': ", "not valid JSON"),
        ("{" + '"x": "' + "a" * 300_000 + '"}', "KiB"),
        ("[" * 50_000 + "]" * 50_000, "nests too deeply"),
    ],
)
def test_a_file_that_is_not_a_dev_container_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_devcontainer(text)


def test_a_command_of_the_wrong_shape_is_a_warning_and_not_run() -> None:
    container = parse_devcontainer('{"postCreateCommand": 42, "postStartCommand": [1]}')
    assert container.create_commands == () and container.start_command == ()
    assert len(container.warnings) == 2


def test_the_image_names_the_template_to_pick() -> None:
    images = {"default": "tidepool/workspace", "python": "py:3.12"}
    assert "template 'python'" in image_note("py:3.12", images, "default")
    assert "this workspace's template" in image_note("py:3.12", images, "python")
    assert "matches no template" in image_note("node:20", images, "default")
    assert image_note("", images, "default") == ""


def test_a_customizations_or_vscode_of_the_wrong_shape_is_a_warning() -> None:
    for text in ('{"customizations": []}', '{"customizations": {"vscode": "x"}}'):
        container = parse_devcontainer(text)
        assert container.extensions == () and len(container.warnings) == 1, text


def test_an_entry_name_that_would_forge_a_log_line_is_not_run() -> None:
    container = parse_devcontainer('{"postStartCommand": {"ok\\n$ forged": "true"}}')
    assert container.start_command == ()
    assert "postStartCommand" in container.warnings[0]


def test_a_value_that_could_not_be_written_safely_is_left_out_alone() -> None:
    container = parse_devcontainer(
        '{"containerEnv": {"GOOD": "1", "TAB": "a\\tb", "LONE": "\\ud800", "1BAD": "x"}}'
    )
    assert container.container_env == {"GOOD": "1"}
    assert len(container.warnings) == 3


def test_variables_resolve_as_the_spec_says_and_an_unsafe_result_is_left_out() -> None:
    container = parse_devcontainer(
        """{
        "containerEnv": {"MODE": "${localEnv:TIDEPOOL_WORKSPACE}", "NOPE": "${containerEnv:X}",
                         "HOME_DIR": "${containerWorkspaceFolder}"},
        "remoteEnv": {"PATH": "${containerEnv:PATH}:/opt/tools", "LEVEL": "${localEnv:NO:3}",
                      "QUOTED": "${containerEnv:WEIRD}", "AGAIN": "${containerEnv:MODE}"},
        }"""
    )
    resolved, warnings = resolve_environment(
        container.container_env,
        container.remote_env,
        local={"TIDEPOOL_WORKSPACE": "web1"},
        base={"PATH": "/usr/bin:/bin", "WEIRD": "it's"},
        folder="/home/dev/app",
    )
    assert resolved == {
        "MODE": "web1",
        "HOME_DIR": "/home/dev/app",
        "PATH": "/usr/bin:/bin:/opt/tools",
        "LEVEL": "3",
        "AGAIN": "web1",
    }
    assert len(warnings) == 2
    assert "containerEnv.NOPE" in warnings[0] and "QUOTED" in warnings[1]


def test_settings_of_the_wrong_shape_or_too_large_are_a_warning() -> None:
    for text in (
        '{"customizations": {"vscode": {"settings": []}}}',
        '{"customizations": {"vscode": {"settings": {"x": "' + "a" * 70_000 + '"}}}}',
    ):
        container = parse_devcontainer(text)
        assert container.settings == {} and len(container.warnings) == 1, text[:60]
