"""Building Tidepool's Alpine image for Tart with Packer, given every variable it needs.

``images/alpine-workspace.pkr.hcl`` declares two variables without a default, and the image is
only usable if both are right:

- ``alpine_iso``: Alpine's aarch64 *virt* ISO, a local file. Tidepool does not download it: the
  Alpine release decides the Node.js the image gets (``node_major`` must match it), and a boot
  image is something its user checks against Alpine's published checksum rather than something
  fetched behind their back. It comes from ``--alpine-iso`` or the ``tart_alpine_iso`` setting;
  with neither, the build stops before anything runs and says where to get one.
- ``ssh_authorized_key``: the image has no Tart Guest Agent, so ``TartRuntime`` runs commands in
  it over SSH with the key pair in its state directory (``adapters/tart/keys.py``). The build
  makes that pair if it is missing and hands Packer its public half, so the image trusts
  exactly the key the runtime offers.

A build that is not needed is not run: an existing ``tidepool-alpine`` is kept unless
``force`` is given, and a key made after that image was built is reported as a reason to
rebuild (the image could not trust it).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tidepool.adapters.tart.keys import ensure_key_pair
from tidepool.adapters.tart.runtime import TartRuntime
from tidepool.errors import ImageBuildError
from tidepool.images import TART_IMAGE_NAME
from tidepool.images.bundle import npm_registry
from tidepool.images.inputs import PROVISIONING_SCRIPT
from tidepool.ports import Runtime

#: The Packer template, and the Tart VM it makes (its ``local.image_name``).
PACKER_TEMPLATE = PROVISIONING_SCRIPT.parents[1] / "alpine-workspace.pkr.hcl"
IMAGE_NAME = TART_IMAGE_NAME
#: Where to get the ISO, for the message shown when none is given.
ALPINE_DOWNLOADS = "https://alpinelinux.org/downloads/"

Report = Callable[[str], None]
Runner = Callable[[list[str]], int]


@dataclass(frozen=True, slots=True)
class TartImageResult:
    name: str
    #: False when the image was already there and kept.
    built: bool
    #: The private key the image trusts (its public half went into the image).
    key: Path
    seconds: float


def is_macos() -> bool:
    """Tart runs only on macOS; elsewhere there is nothing Packer's Tart builder can do."""
    return platform.system() == "Darwin"


def ssh_key_of(runtime: Runtime) -> Path:
    """The private key ``runtime`` reaches agent-less VMs with, where the build puts the pair.

    Asking the runtime that ``bootstrap`` builds, rather than computing a path here, keeps one
    owner for where the Tart runtime's state lives.
    """
    if not isinstance(runtime, TartRuntime):
        raise ImageBuildError(
            f"The tart runtime is a {type(runtime).__name__}, not Tidepool's TartRuntime: "
            "Tidepool cannot tell which SSH key it uses, so it cannot put that key in the image."
        )
    return runtime.ssh_key_path


def check_tools() -> None:
    if not is_macos():
        raise ImageBuildError(
            "Tart images are built on a Mac (Apple silicon) with Packer; see docs/macos.md."
        )
    missing = [tool for tool in ("packer", "tart") if shutil.which(tool) is None]
    if missing:
        raise ImageBuildError(
            f"{' and '.join(missing)} not found; install them with "
            "`brew install hashicorp/tap/packer cirruslabs/cli/tart`."
        )


def alpine_iso(path: Path | None) -> Path:
    """The ISO to install from, as the absolute path the template asks for; or a clear error."""
    if path is None:
        raise ImageBuildError(
            "The Tart image is installed from Alpine's aarch64 'virt' ISO, which Tidepool does "
            f"not download for you. Get it from {ALPINE_DOWNLOADS} ('Virtual', aarch64, 3.23 "
            "or newer), check it against the .sha256 file beside it, then pass "
            "--alpine-iso PATH or set tart_alpine_iso (TIDEPOOL_TART_ALPINE_ISO). "
            "docs/macos.md has the steps."
        )
    iso = path.expanduser().resolve()
    if not iso.is_file():
        raise ImageBuildError(f"The Alpine ISO {iso} does not exist or is not a file.")
    if "x86_64" in iso.name:
        raise ImageBuildError(
            f"{iso.name} is an x86_64 ISO; Tart on Apple silicon boots aarch64 ones only."
        )
    return iso


def packer_variables(iso: Path, public_key: str, registry: str) -> dict[str, str]:
    """Every variable the template requires, and the npm registry the Mac itself uses."""
    return {"alpine_iso": str(iso), "ssh_authorized_key": public_key, "npm_registry": registry}


def packer_commands(variables: Mapping[str, str]) -> list[list[str]]:
    template = str(PACKER_TEMPLATE)
    build = ["packer", "build"]
    for name, value in sorted(variables.items()):
        build += ["-var", f"{name}={value}"]
    return [["packer", "init", template], [*build, template]]


def image_exists(name: str = IMAGE_NAME) -> bool:
    """Whether Tart has a local VM named ``name`` (``tart get`` exits 2 for an unknown one)."""
    done = subprocess.run(
        ["tart", "get", name, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode == 0:
        return True
    if "does not exist" in done.stderr:
        return False
    raise ImageBuildError(f"`tart get {name}` failed: {done.stderr.strip() or done.stdout}")


def _quiet(_: str) -> None:
    return None


def _attached(argv: list[str]) -> int:
    """Run a build step with its output on the user's terminal (a build takes minutes)."""
    return subprocess.run(argv, check=False).returncode


def build_tart_image(
    key: Path,
    *,
    iso: Path | None,
    force: bool = False,
    report: Report = _quiet,
    run: Runner = _attached,
) -> TartImageResult:
    """Build ``tidepool-alpine`` unless it exists (or ``force``); return what was done."""
    started = time.monotonic()
    check_tools()
    pair = ensure_key_pair(key)
    if pair.created:
        report(f"made the SSH key pair the image will trust: {key}")
    exists = image_exists()
    if exists and not force:
        if pair.created:
            raise ImageBuildError(
                f"Tart has an image {IMAGE_NAME!r} built before the key {key} existed, so it "
                "cannot trust that key; rebuild it with `tidepool image build --runtime tart "
                "--force`."
            )
        return TartImageResult(IMAGE_NAME, False, key, time.monotonic() - started)
    source = alpine_iso(iso)
    registry = npm_registry() if shutil.which("npm") else ""
    if exists:
        report(f"deleting the old {IMAGE_NAME} (--force)")
        if run(["tart", "delete", IMAGE_NAME]) != 0:
            raise ImageBuildError(f"`tart delete {IMAGE_NAME}` failed; see its output above.")
    for argv in packer_commands(packer_variables(source, pair.public_key, registry)):
        report(" ".join(argv[:2]))
        if run(argv) != 0:
            raise ImageBuildError(f"`{' '.join(argv[:2])}` failed; see its output above.")
    if not image_exists():
        raise ImageBuildError(f"Packer finished, but Tart has no VM named {IMAGE_NAME!r}.")
    return TartImageResult(IMAGE_NAME, True, key, time.monotonic() - started)
