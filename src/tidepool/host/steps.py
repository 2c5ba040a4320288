"""The result of one idempotent setup step, so commands can say what they changed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a setup command: what it is, whether it changed anything, and what."""

    name: str
    changed: bool
    detail: str
