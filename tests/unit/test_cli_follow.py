"""``tidepool workspace start|rebuild|...`` follows the workspace's event stream, which replays
its whole history first: only the phases of this request are shown, not an earlier start's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tidepool.cli.output import console
from tidepool.cli.workspace import follow

ASKED = {"name": "dev1", "status": "stopped", "updated_at": "2026-12-07T10:00:00+00:00"}


class Replaying:
    """The history of a workspace started twice, then its state now (``starting`` until the
    stream has told this start's ``running``)."""

    def __init__(self) -> None:
        self.status = "starting"

    async def events(self, name: str, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        for at, kind, value, detail in (
            ("09:00:01", "phase", "booted", "1.10s"),
            ("09:00:02", "status", "running", ""),
            ("10:00:01", "phase", "ide_healthy", "1.90s"),
            ("10:00:02", "status", "running", ""),
        ):
            if at == "10:00:02":
                self.status = "running"
            yield {"kind": kind, "value": value, "detail": detail, "at": f"2026-12-07T{at}+00:00"}

    async def get(self, name: str) -> dict[str, Any]:
        return {**ASKED, "status": self.status, "updated_at": "2026-12-07T10:00:02+00:00"}


async def test_only_the_phases_after_the_request_are_shown() -> None:
    with console.capture() as captured:
        done = await follow(Replaying(), "dev1", {"running", "failed"}, ASKED)  # type: ignore[arg-type]
    shown = captured.get()
    assert done["status"] == "running"
    assert "IDE healthy" in shown and "booted" not in shown, shown
