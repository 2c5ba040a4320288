"""Which control plane does the work that must be done once, when several share a database.

Several ``serve`` on one PostgreSQL each run a worker, an API and a Caddy of their own. Jobs
are claimed one at a time by whichever worker is free, but some work is not a job: the full
resync's repairs (an unwanted instance removed, one stopped outside Tidepool restarted), the
warm pool's refills and drains, and the sweep of kept homes. Done by two processes at once
they would race (two refills make a pool twice its size), so one process, the leader, does
them; every process still keeps its own Caddy's routes.
"""

from __future__ import annotations

from typing import Protocol


class Leadership(Protocol):
    @property
    def leading(self) -> bool:
        """What the last ``check`` found (a cheap read for loops that run often)."""
        ...

    async def check(self) -> bool:
        """Take the lead if no one holds it, or confirm this process still does."""
        ...

    async def aclose(self) -> None:
        """Give the lead up (another process takes it at its next check)."""
        ...
