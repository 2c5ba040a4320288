"""Debian packages: which are installed, the backports suite, installing what is missing.

The mirror is read from the machine's own apt sources, never written into the project.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tidepool.errors import HostSetupError
from tidepool.host.commands import run
from tidepool.host.steps import StepResult

SOURCES_DIR = Path("/etc/apt/sources.list.d")
BACKPORTS_FILE = SOURCES_DIR / "tidepool-backports.sources"
_NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive"}


def missing_packages(packages: Sequence[str]) -> list[str]:
    """The packages of ``packages`` that dpkg does not list as installed."""
    missing = []
    for package in packages:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or "install ok installed" not in done.stdout:
            missing.append(package)
    return missing


def debian_mirror(sources_dir: Path = SOURCES_DIR, sources_list: Path | None = None) -> str:
    """The first Debian archive URI in apt's sources (deb822 or one-line format)."""
    candidates: list[Path] = sorted(sources_dir.glob("*.sources")) + sorted(
        sources_dir.glob("*.list")
    )
    candidates.insert(0, sources_list or Path("/etc/apt/sources.list"))
    for path in candidates:
        if not path.is_file() or path == BACKPORTS_FILE:
            continue
        for uri in _uris(path.read_text()):
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    raise HostSetupError("No Debian mirror found in apt's sources; set TIDEPOOL_DEBIAN_MIRROR.")


def _uris(text: str) -> list[str]:
    uris = re.findall(r"^URIs:\s*(\S+)", text, flags=re.MULTILINE)
    uris += re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, flags=re.MULTILINE)
    return uris


def ensure_backports(codename: str) -> StepResult:
    """Add ``{codename}-backports`` to apt's sources if no source has it yet."""
    for path in [Path("/etc/apt/sources.list"), *SOURCES_DIR.glob("*")]:
        if path.is_file() and f"{codename}-backports" in path.read_text():
            return StepResult("apt backports", False, f"{codename}-backports already in sources")
    mirror = debian_mirror()
    BACKPORTS_FILE.write_text(
        "Types: deb\n"
        f"URIs: {mirror}\n"
        f"Suites: {codename}-backports\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    run(["apt-get", "update", "-q"], env=_NONINTERACTIVE)
    return StepResult("apt backports", True, f"added {codename}-backports from {mirror}")


def ensure_packages(
    packages: Sequence[str], *, target_release: str | None = None, step: str = "packages"
) -> StepResult:
    """Install whichever of ``packages`` are missing (from ``target_release`` if given)."""
    missing = missing_packages(packages)
    if not missing:
        return StepResult(step, False, "installed: " + ", ".join(packages))
    argv = ["apt-get", "install", "-y", "-q"]
    if target_release:
        argv += ["-t", target_release]
    try:
        run([*argv, *missing], env=_NONINTERACTIVE)
    except HostSetupError:
        # A stale package list is the usual cause on a fresh machine: refresh once and retry.
        run(["apt-get", "update", "-q"], env=_NONINTERACTIVE)
        run([*argv, *missing], env=_NONINTERACTIVE)
    return StepResult(step, True, "installed " + ", ".join(missing))


def os_codename(os_release: Path = Path("/etc/os-release")) -> tuple[str, str]:
    """``(ID, VERSION_CODENAME)`` from os-release, e.g. ``("debian", "bookworm")``."""
    fields = dict(line.split("=", 1) for line in os_release.read_text().splitlines() if "=" in line)
    return fields.get("ID", "").strip('"'), fields.get("VERSION_CODENAME", "").strip('"')
