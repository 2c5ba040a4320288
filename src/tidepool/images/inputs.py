"""What a workspace image is made of, and one hash over all of it.

The hash keys every cache (the debootstrapped rootfs, the code-server bundle, the imported
image), so a build whose inputs did not change finishes in seconds, and a changed input (the
provisioning script, a version, the host's extra CA certificates) rebuilds what depends on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tidepool.domain.environment import ENVIRONMENT_TEMPLATE
from tidepool.domain.ide import SSH_BRIDGE_PORT
from tidepool.errors import ImageBuildError
from tidepool.images import IMAGE_REVISION

PROVISIONING_SCRIPT = (
    Path(__file__).resolve().parents[3] / "images" / "scripts" / "workspace-setup.sh"
)
HOST_EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")

#: Packages baked into the rootfs by debootstrap; the provisioning script finds them installed.
ROOTFS_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "systemd-resolved",
    "udev",
    "dbus",
    "iproute2",
    "iputils-ping",
    "ca-certificates",
    "bash",
    "curl",
    "wget",
    "jq",
    "git",
    "openssh-client",
    # In the rootfs, not left to the script: the plain image that ``vm setup`` provisions
    # then needs no apt inside the instance, and debootstrap starts no daemon in its chroot.
    "openssh-server",
    "websockify",
    # websockify needs python3-cryptography, which depends on a virtual package that
    # debootstrap's resolver cannot follow: name the package that provides it.
    "python3-cffi-backend",
    # ``rsync -a`` over ``tidepool ssh`` needs rsync at both ends.
    "rsync",
    # Work that outlives a closed tab or a dropped SSH session, and that an idle stop
    # recognizes (``domain.work``).
    "tmux",
    "make",
    "python3",
    "sudo",
    "procps",
    "less",
    "xz-utils",
    "nano",
    "locales",
)


def provisioning_script() -> Path:
    """The shared script; Tidepool runs from a checkout, where ``images/`` lives."""
    if not PROVISIONING_SCRIPT.is_file():
        raise ImageBuildError(f"The provisioning script is missing: {PROVISIONING_SCRIPT}")
    return PROVISIONING_SCRIPT


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RootfsInputs:
    suite: str
    mirror: str
    packages: tuple[str, ...] = ROOTFS_PACKAGES

    def key(self) -> str:
        return _digest(json.dumps(asdict(self), sort_keys=True).encode())


@dataclass(frozen=True, slots=True)
class BundleInputs:
    """Node.js and code-server built on the host once, then copied into every image."""

    code_server_version: str
    node_major: int

    def key(self) -> str:
        return _digest(json.dumps(asdict(self), sort_keys=True).encode())


@dataclass(frozen=True, slots=True)
class ImageInputs:
    rootfs: RootfsInputs
    bundle: BundleInputs | None
    workspace_user: str
    script: bytes
    extra_ca: tuple[tuple[str, bytes], ...]

    def key(self) -> str:
        ca = b"".join(name.encode() + b"\0" + data for name, data in self.extra_ca)
        return _digest(
            IMAGE_REVISION.to_bytes(4, "big"),
            self.rootfs.key().encode(),
            (self.bundle.key() if self.bundle else "base").encode(),
            self.workspace_user.encode(),
            self.script,
            ca,
            # The templates Incus renders at the first start are part of the image too.
            ENVIRONMENT_TEMPLATE.encode(),
        )


def host_extra_ca(
    enabled: bool, directory: Path = HOST_EXTRA_CA_DIR
) -> tuple[tuple[str, bytes], ...]:
    """The host's locally added CA certificates (a TLS-inspecting proxy's, for example)."""
    if not enabled or not directory.is_dir():
        return ()
    return tuple(
        (path.name, path.read_bytes()) for path in sorted(directory.glob("*.crt")) if path.is_file()
    )


def script_environment(
    workspace_user: str, code_server_version: str, node_major: int, install: str
) -> dict[str, str]:
    """The settings the provisioning script reads (see its header), for an image build and
    for ``vm setup`` alike."""
    return {
        "TIDEPOOL_USER": workspace_user,
        "CODE_SERVER_VERSION": code_server_version,
        "NODE_MAJOR": str(node_major),
        "CODE_SERVER_INSTALL": install,
        "TIDEPOOL_SSH_BRIDGE_PORT": str(SSH_BRIDGE_PORT),
    }
