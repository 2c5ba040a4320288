"""``TartRuntime``: the ``Runtime`` port on Tart VMs (macOS), through the ``tart`` CLI.

One workspace is one local Tart VM named ``{vm_prefix}{workspace}`` (``tidepool-ws-alice``): the
prefix is how ``list()`` tells Tidepool's VMs from the user's own and from images such as
``tidepool-alpine``. The life of a VM, in Tart's words:

- create: ``tart clone IMAGE VM`` (a local image, or an OCI reference that Tart pulls), then
  ``tart set VM --cpu N --memory MiB``;
- start: ``tart run --no-graphics VM`` in the background, detached, its output appended to
  ``{state_dir}/{VM}/tart-run.log``; Tidepool waits until ``tart get`` says ``running`` and
  quotes the log if ``tart run`` dies instead;
- ``tart ip VM --wait N``; ``tart exec VM ...`` (SSH for images without the guest agent, with
  the key in ``{state_dir}/id_ed25519`` that the image build put in the image);
- ``tart stop VM --timeout N``; ``tart delete VM``.

Apple's Virtualization.framework runs at most two VMs at once on a Mac; ``start`` counts the
running VMs (``tart list``) and refuses with a ``ConflictError`` that names them before
``tart run`` would fail.

A Tart VM cannot be written to before its first boot: its environment file is delivered at
its first start (``environment_file``).
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tidepool.adapters.tart.cli import TartCLI
from tidepool.adapters.tart.environment_file import (
    ENV_FILE,
    RESTART_CODE_SERVER,
    deliver_environment,
    environment_pending,
)
from tidepool.adapters.tart.guest import GuestRunner, SSHSettings, wrap_command
from tidepool.adapters.tart.keys import key_path
from tidepool.adapters.tart.owners import read_owner, write_owner
from tidepool.adapters.tart.vms import RUN_LOG, TartVMs
from tidepool.domain.environment import WORKSPACE_ENV_PATH, render_env_file
from tidepool.domain.names import validate_workspace_name
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    RuntimeOperationError,
)
from tidepool.ports import ExecResult, InstanceSpec, InstanceState, InstanceStatus

log = logging.getLogger(__name__)

#: Apple's limit on VMs running at once on one Mac.
MAX_RUNNING_VMS = 2
DEFAULT_SSH = SSHSettings()


class TartRuntime:
    """Workspace instances as Tart VMs on a Mac."""

    def __init__(
        self,
        *,
        tart: str = "tart",
        tart_home: Path | None = None,
        state_dir: Path | None = None,
        vm_prefix: str = "tidepool-ws-",
        max_running_vms: int = MAX_RUNNING_VMS,
        ssh: SSHSettings | None = DEFAULT_SSH,
        ip_resolver: str | None = None,
        command_timeout: float = 60.0,
        clone_timeout: float = 3600.0,
        boot_timeout: float = 180.0,
        stop_timeout: int = 30,
        poll_interval: float = 0.25,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        if max_running_vms < 1:
            raise InvalidInputError("max_running_vms must be at least 1.")
        self._tart = TartCLI(tart, tart_home=tart_home, extra_env=extra_env)
        self._state_dir = state_dir or Path.home() / ".tidepool" / "tart"
        self._prefix = vm_prefix
        self._command_timeout = command_timeout
        self._boot_timeout = boot_timeout
        self._stop_timeout = stop_timeout
        self._poll = poll_interval
        self._vms = TartVMs(
            self._tart,
            vm_dir=self._vm_dir,
            describe=lambda vm: self.workspace_name(vm) or vm,
            max_running=max_running_vms,
            ip_resolver=ip_resolver,
            command_timeout=command_timeout,
            clone_timeout=clone_timeout,
            boot_timeout=boot_timeout,
            poll_interval=poll_interval,
        )
        self._guest = GuestRunner(
            self._tart,
            ssh=ssh,
            ssh_cli=TartCLI(ssh.executable, extra_env=extra_env) if ssh else None,
            address_of=lambda vm: self._vms.ip(vm, wait=min(30.0, self._boot_timeout)),
            known_hosts_of=lambda vm: self._vm_dir(vm) / "known_hosts",
            default_identity=self.ssh_key_path,
        )
        self._locks: dict[str, asyncio.Lock] = {}
        self._start_lock: asyncio.Lock | None = None

    async def aclose(self) -> None:
        """Nothing to release: every call is its own subprocess."""

    # --- the port ---------------------------------------------------------------------------

    async def create(self, spec: InstanceSpec) -> InstanceState:
        name = validate_workspace_name(spec.name)
        vm = self.vm_name(name)
        env_file = render_env_file(spec.environment)
        async with self._lock(vm):
            if await self._vms.info_or_none(vm) is not None:
                raise ConflictError(f"An instance named {name!r} already exists (Tart VM {vm!r}).")
            await self._vms.clone(spec.image, vm)
            try:
                # A disk size only grows the image's disk (Tart cannot shrink one).
                disk = ["--disk-size", str(spec.disk_gib)] if spec.disk_gib is not None else []
                await self._tart.check(
                    ["set", vm, "--cpu", str(spec.cpus), "--memory", str(spec.memory_mib), *disk],
                    timeout=self._command_timeout,
                )
                directory = self._vm_dir(vm)
                shutil.rmtree(directory, ignore_errors=True)
                directory.mkdir(parents=True)
                if env_file:
                    (directory / ENV_FILE).write_bytes(env_file)
                if spec.owner is not None:
                    write_owner(directory, spec.owner)
            except BaseException:
                await self._tart.run(["delete", vm], timeout=self._command_timeout)
                raise
        return await self.state(name)

    async def start(self, name: str) -> None:
        vm = self.vm_name(validate_workspace_name(name))
        async with self._lock(vm):
            if (await self._vms.info(vm)).status is not InstanceStatus.RUNNING:
                async with self._starting():
                    await self._vms.check_limit(vm)
                    await self._vms.run(vm)
            if environment_pending(self._vm_dir(vm)):
                await deliver_environment(
                    self._vm_dir(vm),
                    name,
                    push=lambda content: self.push_file(name, WORKSPACE_ENV_PATH, content),
                    restart=lambda: self._guest.run(
                        vm, list(RESTART_CODE_SERVER), timeout=self._command_timeout
                    ),
                    timeout=self._boot_timeout,
                    poll=self._poll,
                )

    async def stop(self, name: str) -> None:
        vm = self.vm_name(validate_workspace_name(name))
        async with self._lock(vm):
            if (await self._vms.info(vm)).status is InstanceStatus.STOPPED:
                return
            await self._vms.stop(vm, grace=self._stop_timeout)

    async def delete(self, name: str) -> None:
        vm = self.vm_name(validate_workspace_name(name))
        async with self._lock(vm):
            if (await self._vms.info(vm)).status is not InstanceStatus.STOPPED:
                await self._vms.stop(vm, grace=0)
            deadline = time.monotonic() + self._command_timeout
            while True:
                try:
                    await self._tart.check(["delete", vm], timeout=self._command_timeout)
                    break
                except ConflictError:  # `tart stop` killed it; the lock is not released yet
                    if time.monotonic() >= deadline:
                        raise
                    await asyncio.sleep(self._poll)
            await asyncio.to_thread(shutil.rmtree, self._vm_dir(vm), ignore_errors=True)

    async def state(self, name: str) -> InstanceState:
        vm = self.vm_name(validate_workspace_name(name))
        info = await self._vms.info(vm)
        ipv4 = await self._vms.ip_or_none(vm) if info.status is InstanceStatus.RUNNING else None
        return InstanceState(name=name, status=info.status, ipv4=ipv4)

    async def list(self) -> Sequence[InstanceState]:
        managed = [
            (workspace, vm)
            for vm in await self._vms.list_vms()
            if vm.local and (workspace := self.workspace_name(vm.name)) is not None
        ]
        addresses = await asyncio.gather(
            *(
                self._vms.ip_or_none(vm.name) if vm.status is InstanceStatus.RUNNING else _none()
                for _, vm in managed
            )
        )
        return [
            InstanceState(
                name=workspace,
                status=vm.status,
                ipv4=address,
                owner=read_owner(self._vm_dir(vm.name)),
            )
            for (workspace, vm), address in zip(managed, addresses, strict=True)
        ]

    async def owner(self, name: str) -> InstanceOwner | None:
        vm = self.vm_name(validate_workspace_name(name))
        await self._vms.info(vm)
        return read_owner(self._vm_dir(vm))

    async def claim(self, name: str, owner: InstanceOwner) -> None:
        vm = self.vm_name(validate_workspace_name(name))
        async with self._lock(vm):
            await self._vms.info(vm)
            write_owner(self._vm_dir(vm), owner)

    async def take(self, name: str, expected: InstanceOwner, owner: InstanceOwner) -> bool:
        """The compare-and-swap under this runtime's lock of the VM: Tart keeps no metadata
        of its own, so two processes driving one Mac must not share a pool."""
        vm = self.vm_name(validate_workspace_name(name))
        async with self._lock(vm):
            await self._vms.info(vm)
            if read_owner(self._vm_dir(vm)) != expected:
                return False
            write_owner(self._vm_dir(vm), owner)
            return True

    async def image_id(self, image: str) -> str:
        """The image's name: Tart keeps no digest of a local VM, so a pool is drained by a
        new name (``tidepool image build`` with another alias, or an OCI tag)."""
        if "/" not in image:
            await self._vms.info(image)
        return image

    async def wait_for_ipv4(self, name: str, timeout: float) -> str:
        vm = self.vm_name(validate_workspace_name(name))
        if (await self._vms.info(vm)).status is not InstanceStatus.RUNNING:
            raise RuntimeOperationError(f"Instance {name!r} is not running; it has no address.")
        return await self._vms.ip(vm, wait=timeout)

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        user: int | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> ExecResult:
        vm = self.vm_name(validate_workspace_name(name))
        command = wrap_command(argv, user=user, env=env)
        return await self._guest.run(vm, command, timeout=timeout)

    async def push_file(
        self, name: str, path: str, content: bytes, *, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> None:
        if not posixpath.isabs(path) or posixpath.normpath(path) != path:
            raise InvalidInputError(f"{path!r} must be an absolute, normalised path.")
        vm = self.vm_name(validate_workspace_name(name))
        # Create the file empty with its final owner and mode, then fill it, so that its
        # content is never readable by anyone it is not meant for.
        steps: tuple[tuple[Sequence[str], bytes | None], ...] = (
            (["mkdir", "-p", posixpath.dirname(path)], None),
            (
                ["install", "-m", f"{mode:04o}", "-o", str(uid), "-g", str(gid), "/dev/null", path],
                None,
            ),
            (["tee", path], content),
        )
        for command, stdin in steps:
            result = await self._guest.run(vm, command, timeout=self._command_timeout, stdin=stdin)
            if not result.ok:
                raise RuntimeOperationError(
                    f"Writing {path} in {name!r} failed at `{command[0]}` (exit "
                    f"{result.exit_code}): {result.stderr.strip()}"
                )

    # --- names and local state -------------------------------------------------------------

    def vm_name(self, workspace: str) -> str:
        """The Tart VM that holds ``workspace``."""
        return f"{self._prefix}{workspace}"

    def workspace_name(self, vm: str) -> str | None:
        """The workspace a Tart VM holds, or None if Tidepool does not manage that VM."""
        if not vm.startswith(self._prefix):
            return None
        try:
            return validate_workspace_name(vm[len(self._prefix) :])
        except InvalidInputError:
            return None

    @property
    def ssh_key_path(self) -> Path:
        """The private key this runtime reaches agent-less VMs with (see ``keys.py``).

        ``tidepool image build --runtime tart`` makes the pair here and puts its public half
        in the Alpine image, so the image and the runtime agree on the key by construction.
        """
        return key_path(self._state_dir)

    def run_log(self, workspace: str) -> Path:
        """Where ``tart run``'s output for ``workspace`` is captured."""
        return self._vm_dir(self.vm_name(workspace)) / RUN_LOG

    def _vm_dir(self, vm: str) -> Path:
        return self._state_dir / vm

    def _lock(self, vm: str) -> asyncio.Lock:
        return self._locks.setdefault(vm, asyncio.Lock())

    def _starting(self) -> asyncio.Lock:
        """One start at a time, so two starts cannot both pass the VM-limit check."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        return self._start_lock


async def _none() -> None:
    return None
