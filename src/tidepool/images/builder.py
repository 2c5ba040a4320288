"""``tidepool image build``: a Debian workspace image for Incus, built locally.

The steps, each cached by a hash of its inputs:

1. a debootstrapped Debian rootfs (``rootfs.py``),
2. Node.js and code-server installed once on the host (``bundle.py``),
3. the rootfs unpacked, the bundle and the host's extra CA certificates copied in, and the
   shared provisioning script run inside it with chroot,
4. packed with an Incus ``metadata.yaml`` and imported under the versioned alias.

The image records the hash of its inputs as a property: when the alias already points at an
image with the same hash, the build is done before it starts.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from tidepool.adapters.incus.client import IncusClient
from tidepool.adapters.incus.images import image_for_alias, import_unified_tarball
from tidepool.domain.environment import (
    ENVIRONMENT_TEMPLATE,
    ENVIRONMENT_TEMPLATE_PROPERTY,
    WORKSPACE_ENV_PATH,
)
from tidepool.errors import ImageBuildError
from tidepool.host import apt
from tidepool.host.commands import run
from tidepool.images import bundle, rootfs
from tidepool.images.inputs import (
    BundleInputs,
    ImageInputs,
    RootfsInputs,
    host_extra_ca,
    provisioning_script,
    script_environment,
)
from tidepool.settings import Settings

INPUTS_PROPERTY = "tidepool.inputs"
Report = Callable[[str], None]

NETWORK_UNIT = """[Match]
Name=eth0

[Network]
DHCP=ipv4

[DHCPv4]
UseHostname=false
"""

HOSTNAME_TEMPLATE = "{{ instance.name }}\n"
HOSTS_TEMPLATE = "127.0.0.1 localhost\n127.0.1.1 {{ instance.name }}\n"


@dataclass(frozen=True, slots=True)
class BuildResult:
    alias: str
    fingerprint: str
    inputs_key: str
    built: bool
    seconds: float


def image_inputs(settings: Settings, *, with_code_server: bool = True) -> ImageInputs:
    mirror = settings.debian_mirror or apt.debian_mirror()
    return ImageInputs(
        rootfs=RootfsInputs(suite="bookworm", mirror=mirror),
        bundle=BundleInputs(settings.code_server_version, settings.node_major)
        if with_code_server
        else None,
        workspace_user=settings.workspace_user,
        script=provisioning_script().read_bytes(),
        extra_ca=host_extra_ca(settings.trust_host_ca),
    )


#: The alias of the plain image (no code-server) used by the ``vm setup`` fast path.
BASE_ALIAS = "tidepool/debian-12/base"


async def build_image(
    settings: Settings,
    client: IncusClient,
    report: Report,
    *,
    with_code_server: bool = True,
    alias: str | None = None,
    force: bool = False,
) -> BuildResult:
    """Build and import the image unless one with the same inputs is already imported."""
    started = time.monotonic()
    alias = alias or (settings.image_alias if with_code_server else BASE_ALIAS)
    inputs = image_inputs(settings, with_code_server=with_code_server)
    key = inputs.key()
    existing = await image_for_alias(client, alias)
    if existing and existing.get("properties", {}).get(INPUTS_PROPERTY) == key and not force:
        return BuildResult(alias, existing["fingerprint"], key, False, time.monotonic() - started)

    cache = settings.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    rootfs_tar = rootfs.ensure_rootfs_tarball(inputs.rootfs, cache, report)
    bundle_dir = bundle.ensure_bundle(inputs.bundle, cache, report) if inputs.bundle else None
    with tempfile.TemporaryDirectory(dir=cache, prefix="image-") as temp:
        work = Path(temp)
        report("unpacking the rootfs")
        rootfs.unpack(rootfs_tar, work / "rootfs")
        _provision(work / "rootfs", inputs, bundle_dir, settings, report)
        _write_metadata(work, alias, key)
        report("packing the image")
        tarball = work / "image.tar"
        run(
            [
                "tar",
                "--numeric-owner",
                "--xattrs",
                "-C",
                str(work),
                "-cf",
                str(tarball),
                "metadata.yaml",
                "templates",
                "rootfs",
            ],
            error=ImageBuildError,
        )
        shutil.rmtree(work / "rootfs")
        report("importing into Incus")
        fingerprint = await import_unified_tarball(client, tarball, alias)
    return BuildResult(alias, fingerprint, key, True, time.monotonic() - started)


def _provision(
    root: Path,
    inputs: ImageInputs,
    bundle_dir: Path | None,
    settings: Settings,
    report: Report,
) -> None:
    if bundle_dir is not None:
        report("copying Node.js and code-server in")
        prefix = root / "opt" / "tidepool"
        prefix.mkdir(parents=True)
        for part in ("node", "npm", "code-server"):
            run(["cp", "-a", str(bundle_dir / part), str(prefix / part)], error=ImageBuildError)
    for name, data in inputs.extra_ca:
        (root / "usr/local/share/ca-certificates" / name).write_bytes(data)
    script = root / "tmp" / "workspace-setup.sh"
    script.write_bytes(inputs.script)
    script.chmod(0o755)
    report("running the provisioning script")
    with _chroot_mounts(root):
        if inputs.extra_ca:
            run(["chroot", str(root), "update-ca-certificates"], error=ImageBuildError)
        if bundle_dir is not None:
            run(
                ["chroot", str(root), "/tmp/workspace-setup.sh"],
                env={
                    **script_environment(
                        settings.workspace_user,
                        settings.code_server_version,
                        settings.node_major,
                        "preinstalled",
                    ),
                    "TIDEPOOL_START_SERVICE": "0",
                    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                },
                error=ImageBuildError,
            )
    script.unlink()
    _configure_system(root)


def _configure_system(root: Path) -> None:
    """Networking by DHCP, DNS from the bridge, and a fresh identity per instance."""
    network_dir = root / "etc/systemd/network"
    network_dir.mkdir(parents=True, exist_ok=True)
    (network_dir / "eth0.network").write_text(NETWORK_UNIT)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in ("systemd-networkd.service", "systemd-resolved.service"):
        link = wants / unit
        if not link.exists():
            link.symlink_to(f"/lib/systemd/system/{unit}")
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.symlink_to("/run/systemd/resolve/stub-resolv.conf")
    # An empty machine-id is filled at first boot; a shared one means a shared DHCP client id.
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for stale in (root / "etc/ssh").glob("ssh_host_*"):
        stale.unlink()


@contextlib.contextmanager
def _chroot_mounts(root: Path) -> Iterator[None]:
    """/proc and /dev inside the rootfs while the provisioning script runs."""
    mounts = (
        (["mount", "-t", "proc", "proc"], root / "proc"),
        (["mount", "--rbind", "/dev"], root / "dev"),
    )
    mounted: list[Path] = []
    try:
        for argv, target in mounts:
            run([*argv, str(target)], error=ImageBuildError)
            mounted.append(target)
        yield
    finally:
        for target in reversed(mounted):
            run(["umount", "-l", str(target)], error=ImageBuildError)


def _write_metadata(work: Path, alias: str, key: str) -> None:
    metadata = {
        "architecture": "x86_64",
        "creation_date": int(time.time()),
        "properties": {
            "os": "debian",
            "release": "bookworm",
            "description": f"Tidepool workspace ({alias})",
            INPUTS_PROPERTY: key,
            ENVIRONMENT_TEMPLATE_PROPERTY: "true",
        },
        "templates": {
            "/etc/hostname": {"when": ["create", "copy"], "template": "hostname.tpl"},
            "/etc/hosts": {"when": ["create", "copy"], "template": "hosts.tpl"},
            WORKSPACE_ENV_PATH: {"when": ["create", "copy"], "template": "workspace-env.tpl"},
        },
    }
    (work / "metadata.yaml").write_text(yaml.safe_dump(metadata))
    templates = work / "templates"
    templates.mkdir()
    (templates / "hostname.tpl").write_text(HOSTNAME_TEMPLATE)
    (templates / "hosts.tpl").write_text(HOSTS_TEMPLATE)
    (templates / "workspace-env.tpl").write_text(ENVIRONMENT_TEMPLATE)
