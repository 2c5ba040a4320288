"""Tart's own VM calls, one ``tart`` command each, with its time limit and the errors a user
can act on (a missing image, Apple's limit on running VMs, a ``tart run`` that died at once).

``TartRuntime`` decides what to do with workspaces; this is how each step is said to Tart.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tidepool.adapters.tart.cli import CommandResult, TartCLI, error_for
from tidepool.adapters.tart.parse import TartVM, TartVMInfo, parse_get, parse_ip, parse_list
from tidepool.adapters.tart.vm_process import process_alive, read_from
from tidepool.errors import (
    ConflictError,
    NotFoundError,
    RuntimeOperationError,
    TimeoutExpiredError,
)
from tidepool.ports import InstanceStatus

RUN_LOG = "tart-run.log"


class TartVMs:
    """The ``tart`` commands on one Mac's VMs, as the runtime's steps need them."""

    def __init__(
        self,
        tart: TartCLI,
        *,
        vm_dir: Callable[[str], Path],
        describe: Callable[[str], str],
        max_running: int,
        ip_resolver: str | None,
        command_timeout: float,
        clone_timeout: float,
        boot_timeout: float,
        poll_interval: float,
    ) -> None:
        self._tart = tart
        self._vm_dir = vm_dir
        self._describe = describe
        self._max_running = max_running
        self._ip_resolver = ip_resolver
        self._command_timeout = command_timeout
        self._clone_timeout = clone_timeout
        self._boot_timeout = boot_timeout
        self._poll = poll_interval

    async def info(self, vm: str) -> TartVMInfo:
        """``tart get``: the VM's status and size; ``NotFoundError`` naming the workspace."""
        try:
            text = await self._tart.check(
                ["get", vm, "--format", "json"], timeout=self._command_timeout
            )
        except NotFoundError:
            workspace = self._describe(vm)
            raise NotFoundError(f"No instance named {workspace!r} (Tart VM {vm!r}).") from None
        return parse_get(text)

    async def info_or_none(self, vm: str) -> TartVMInfo | None:
        """``info``, or None for a VM Tart does not have."""
        try:
            return await self.info(vm)
        except NotFoundError:
            return None

    async def list_vms(self) -> Sequence[TartVM]:
        """Every local VM, Tidepool's and the user's own."""
        text = await self._tart.check(
            ["list", "--source", "local", "--format", "json"], timeout=self._command_timeout
        )
        return parse_list(text)

    async def clone(self, image: str, vm: str) -> None:
        """``tart clone``: a missing local image or registry tag is a ``NotFoundError``."""
        remote = "/" in image  # local VM names cannot contain "/" (Clone.swift)
        if not remote and await self.info_or_none(image) is None:
            raise NotFoundError(
                f"Image {image!r} is not in Tart; build it with `tidepool image build --runtime "
                "tart` or give an OCI reference such as ghcr.io/cirruslabs/ubuntu:latest."
            )
        try:
            await self._tart.check(["clone", image, vm], timeout=self._clone_timeout)
        except RuntimeOperationError as error:
            text = str(error)
            if remote and any(
                mark in text for mark in ("code: 404", "MANIFEST_UNKNOWN", "NAME_UNKNOWN")
            ):
                raise NotFoundError(f"Image {image!r} is not in its registry: {text}") from error
            raise

    async def check_limit(self, vm: str) -> None:
        """Refuse, naming the running VMs, a start past Apple's limit (before ``tart run``)."""
        running = [v.name for v in await self.list_vms() if v.status is InstanceStatus.RUNNING]
        if len(running) >= self._max_running:
            raise ConflictError(
                f"Cannot start {vm!r}: macOS runs at most {self._max_running} VMs at once and "
                f"{len(running)} are running ({', '.join(running)}). Stop one of them first."
            )

    async def run(self, vm: str) -> None:
        """``tart run --no-graphics`` in the background; wait until Tart reports it running."""
        directory = self._vm_dir(vm)
        directory.mkdir(parents=True, exist_ok=True)
        log_path = directory / RUN_LOG
        offset = log_path.stat().st_size if log_path.exists() else 0
        pid = await self._tart.spawn_detached(
            ["run", "--no-graphics", vm], log_path=log_path, timeout=self._command_timeout
        )
        deadline = time.monotonic() + self._boot_timeout
        while True:
            if (await self.info(vm)).status is InstanceStatus.RUNNING:
                return
            if not process_alive(pid):
                said = await asyncio.to_thread(read_from, log_path, offset)
                result = CommandResult(("tart", "run", vm), 1, "", said)
                raise error_for(result, f"`tart run --no-graphics {vm}` stopped at once")
            if time.monotonic() >= deadline:
                raise TimeoutExpiredError(
                    f"Tart did not report {vm!r} running within {self._boot_timeout:g}s; "
                    f"see {log_path}."
                )
            await asyncio.sleep(self._poll)

    async def stop(self, vm: str, *, grace: int) -> None:
        """``tart stop`` with ``grace`` seconds, then wait until Tart no longer says running."""
        await self._tart.check(
            ["stop", vm, "--timeout", str(grace)], timeout=grace + self._command_timeout
        )
        deadline = time.monotonic() + self._command_timeout
        while (await self.info(vm)).status is InstanceStatus.RUNNING:
            if time.monotonic() >= deadline:
                raise TimeoutExpiredError(f"Tart still reports {vm!r} running after `tart stop`.")
            await asyncio.sleep(self._poll)

    async def ip(self, vm: str, *, wait: float) -> str:
        """``tart ip``, waiting up to ``wait`` seconds for the VM's address."""
        args = ["ip", vm, "--wait", str(max(0, math.ceil(wait)))]
        if self._ip_resolver:
            args += ["--resolver", self._ip_resolver]
        result = await self._tart.run(args, timeout=wait + self._command_timeout)
        if result.exit_code != 0:
            if "no IP address found" in result.message:
                raise TimeoutExpiredError(
                    f"{vm!r} got no IPv4 address in {wait:g}s. Tart says: {result.message}"
                )
            raise error_for(result, f"`tart ip {vm}`")
        return parse_ip(result.stdout)

    async def ip_or_none(self, vm: str) -> str | None:
        """The address if the VM has one now, else None."""
        try:
            return await self.ip(vm, wait=0)
        except TimeoutExpiredError:
            return None
