"""Tart's outputs, parsed into typed values.

The formats, from Tart's sources: ``tart list --format json`` prints a JSON array of
``{"Source", "Name", "Disk", "Size", "Running", "State", ...}`` (``Commands/List.swift``);
``tart get NAME --format json`` one object with ``CPU``, ``Memory`` (MB), ``Running`` and
``State`` (``Commands/Get.swift``); ``State`` is ``running``, ``suspended`` or ``stopped``
(``VMDirectory.State``); ``tart ip`` prints one IPv4 address. Fields Tidepool does not use are
ignored, so newer Tart versions that add fields still parse; a missing or mistyped field that
Tidepool needs is a ``RuntimeOperationError`` naming the command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tidepool.domain.names import validate_ipv4
from tidepool.errors import InvalidInputError, RuntimeOperationError
from tidepool.ports import InstanceStatus

_STATUS = {
    "running": InstanceStatus.RUNNING,
    "stopped": InstanceStatus.STOPPED,
    # A suspended VM is not running; `tart run` resumes it.
    "suspended": InstanceStatus.STOPPED,
}


@dataclass(frozen=True, slots=True)
class TartVM:
    """One row of ``tart list``."""

    name: str
    source: str
    status: InstanceStatus

    @property
    def local(self) -> bool:
        return self.source.lower() == "local"


@dataclass(frozen=True, slots=True)
class TartVMInfo:
    """``tart get``: a VM's configuration and state."""

    cpus: int
    memory_mib: int
    status: InstanceStatus


def status_from(entry: dict[str, Any]) -> InstanceStatus:
    """``State`` where Tart prints it, else the older boolean ``Running``."""
    state = entry.get("State")
    if isinstance(state, str):
        return _STATUS.get(state.lower(), InstanceStatus.UNKNOWN)
    running = entry.get("Running")
    if isinstance(running, bool):
        return InstanceStatus.RUNNING if running else InstanceStatus.STOPPED
    raise ValueError("neither State nor Running is present")


def parse_list(text: str) -> list[TartVM]:
    """Parse ``tart list --format json``."""
    data = _json(text, "tart list --format json")
    if not isinstance(data, list):
        raise RuntimeOperationError(_bad("tart list --format json", "expected a JSON array", text))
    vms = []
    for entry in data:
        try:
            name, source = entry["Name"], entry["Source"]
            if not isinstance(name, str) or not isinstance(source, str):
                raise TypeError("Name and Source must be strings")
            vms.append(TartVM(name=name, source=source, status=status_from(entry)))
        except (KeyError, TypeError, ValueError) as error:
            raise RuntimeOperationError(
                _bad("tart list --format json", f"unexpected entry ({error})", text)
            ) from None
    return vms


def parse_get(text: str) -> TartVMInfo:
    """Parse ``tart get NAME --format json``."""
    data = _json(text, "tart get --format json")
    try:
        if not isinstance(data, dict):
            raise TypeError("expected a JSON object")
        return TartVMInfo(
            cpus=int(data["CPU"]), memory_mib=int(data["Memory"]), status=status_from(data)
        )
    except (KeyError, TypeError, ValueError) as error:
        raise RuntimeOperationError(
            _bad("tart get --format json", f"unexpected content ({error})", text)
        ) from None


def parse_ip(text: str) -> str:
    """Parse ``tart ip``: the last non-empty line must be an IPv4 address."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise RuntimeOperationError(_bad("tart ip", "no output", text))
    try:
        return validate_ipv4(lines[-1])
    except InvalidInputError:
        raise RuntimeOperationError(_bad("tart ip", "not an IPv4 address", text)) from None


def _json(text: str, command: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RuntimeOperationError(_bad(command, f"invalid JSON ({error.msg})", text)) from None


def _bad(command: str, why: str, text: str) -> str:
    excerpt = text.strip()[:200]
    return f"Could not parse the output of `{command}`: {why}. Tart printed: {excerpt!r}"
