"""The Packer template of the Alpine Tart image: formatted, parsed, and holding its invariants.

Packer's Tart builder only runs on a Mac, so here the template is checked the ways that need
none: ``packer fmt -check`` (Debian's packer), and a parse with python-hcl2 whose result must
name the Tart plugin and builder, build the image Tidepool clones (``tidepool-alpine``), and
provision it with the shared script, which must exist at the path the template gives.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tidepool import images

IMAGES = Path(__file__).resolve().parents[2] / "images"
TEMPLATE = IMAGES / "alpine-workspace.pkr.hcl"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals and block labels in their quotes; drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def labelled(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """``[{'"label"': body}, ...]`` as ``{label: body}``."""
    return {unquote(label): body for block in blocks for label, body in block.items()}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    with TEMPLATE.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


@pytest.fixture(scope="module")
def local_values(template: dict[str, Any]) -> dict[str, Any]:
    return {key: unquote(value) for block in template["locals"] for key, value in block.items()}


def resolve(value: Any, local_values: dict[str, Any]) -> Any:
    """Resolve ``${local.x}`` and ``${path.root}`` the way Packer would, for the checks here."""
    value = unquote(value)
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\$\{local\.(\w+)\}", value)
    if whole:
        return resolve(local_values[whole.group(1)], local_values)
    return value.replace("${path.root}", str(TEMPLATE.parent))


def provisioners(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    (build,) = template["build"]
    return [(unquote(kind), body) for block in build["provisioner"] for kind, body in block.items()]


def test_the_template_is_formatted_as_packer_fmt_writes_it() -> None:
    packer = shutil.which("packer")
    assert packer, "packer is not installed: apt-get install -y packer"
    completed = subprocess.run(
        [packer, "fmt", "-check", "-diff", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_it_requires_the_tart_plugin(template: dict[str, Any]) -> None:
    (packer,) = template["packer"]
    (plugins,) = packer["required_plugins"]
    assert unquote(plugins["tart"]["source"]) == "github.com/cirruslabs/tart"


def test_it_builds_the_tidepool_alpine_image_with_the_tart_builder(
    template: dict[str, Any], local_values: dict[str, Any]
) -> None:
    sources = labelled(template["source"])
    assert set(sources) == {"tart-cli"}  # the Tart plugin's builder
    builders = labelled([sources["tart-cli"]])
    assert set(builders) == {"alpine"}
    alpine = builders["alpine"]
    assert resolve(alpine["vm_name"], local_values) == "tidepool-alpine"
    assert alpine["from_iso"] == ["${var.alpine_iso}"]
    assert unquote(alpine["boot_command"][-1]).endswith("poweroff<enter>")  # the builder waits
    (build,) = template["build"]
    assert [unquote(source) for source in build["sources"]] == ["source.tart-cli.alpine"]


def test_it_provisions_with_the_shared_script(
    template: dict[str, Any], local_values: dict[str, Any]
) -> None:
    steps = provisioners(template)
    (upload,) = [body for kind, body in steps if kind == "file"]
    shared = Path(resolve(upload["source"], local_values))
    assert shared == IMAGES / "scripts" / "workspace-setup.sh"
    assert shared.is_file()
    scripts = [body for kind, body in steps if kind == "shell" and "script" in body]
    (entry,) = scripts
    alpine_entry = Path(resolve(entry["script"], local_values))
    assert alpine_entry == IMAGES / "scripts" / "alpine-setup.sh"
    assert alpine_entry.is_file()
    env = dict(unquote(item).split("=", 1) for item in entry["environment_vars"])
    assert env["WORKSPACE_SETUP"] == unquote(upload["destination"])
    assert env["TIDEPOOL_START_SERVICE"] == "0"


def test_its_defaults_match_the_rest_of_tidepool(template: dict[str, Any]) -> None:
    variables = labelled(template["variable"])
    assert unquote(variables["code_server_version"]["default"]) == images.CODE_SERVER_VERSION
    assert unquote(variables["node_major"]["default"]) == str(images.NODE_MAJOR)
    used = set(re.findall(r"\bvar\.(\w+)", TEMPLATE.read_text()))
    assert used <= set(variables), f"undeclared variables: {sorted(used - set(variables))}"


def test_the_key_tidepool_execs_with_is_required_and_kept_usable(template: dict[str, Any]) -> None:
    """The image has no Tart guest agent: without root's key Tidepool cannot exec into it, so
    the key has no default, and root is never locked (Alpine's sshd, built without PAM, then
    refuses every login to root, keys included)."""
    variables = labelled(template["variable"])
    assert "default" not in variables["ssh_authorized_key"]
    assert "default" not in variables["alpine_iso"]
    closing = [body for kind, body in provisioners(template) if "inline" in body][-1]
    lines = [unquote(line) for line in closing["inline"]]
    assert any("/root/.ssh/authorized_keys" in line for line in lines)
    assert not any("passwd -l" in line for line in lines)
    assert "usermod -p '*' root" in lines
