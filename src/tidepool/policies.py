"""What the settings decide per user and per workspace: quotas and idle stops.

Read fresh at each use, so an admin's change (``tidepool user quota``, a template's timeout
in the config file after a restart) applies without touching the workspaces.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tidepool.auth.users import UserFile
from tidepool.domain.activity import IdlePolicy
from tidepool.domain.quotas import Quota
from tidepool.domain.workspace import Workspace
from tidepool.settings import Settings


def quota_of(settings: Settings) -> Callable[[str], Quota]:
    """Each user's quota: the platform's (``quota_*``), with what the users file gives them
    instead (an admin's ``tidepool user quota``), read fresh at each check."""
    users = UserFile(settings.users_file)

    def of(name: str) -> Quota:
        user = next((u for u in users.load() if u.name == name), None)
        own = user.quota if user is not None else {}
        return settings.default_quota.with_overrides({k: v or None for k, v in own.items()})

    return of


def idle_policy_for(settings: Settings) -> Callable[[Workspace], IdlePolicy | None]:
    """Each workspace's idle policy: its template's timeout, else the platform's; None (never
    stopped for idleness) when that is 0. The warning is at most half the timeout."""
    own = {t.name: t.idle_timeout_minutes for t in settings.templates}
    return _countdown(settings, own, settings.idle_timeout_minutes, timedelta(minutes=1))


def lifetime_policy_for(settings: Settings) -> Callable[[Workspace], IdlePolicy | None]:
    """Each workspace's longest run: its template's ``max_lifetime_hours``, else the
    platform's; None (no limit) when that is 0. Warned as before an idle stop."""
    own = {t.name: t.max_lifetime_hours for t in settings.templates}
    return _countdown(settings, own, settings.max_lifetime_hours, timedelta(hours=1))


def _countdown(
    settings: Settings, own: dict[str, float | None], default: float, unit: timedelta
) -> Callable[[Workspace], IdlePolicy | None]:
    """A template's own length (in ``unit``s), else ``default``; 0 is none. The warning is
    ``idle_warning_minutes``, at most half the length."""

    def of(workspace: Workspace) -> IdlePolicy | None:
        length = own.get(workspace.template)
        limit = unit * (default if length is None else length)
        if limit <= timedelta(0):
            return None
        warning = min(timedelta(minutes=settings.idle_warning_minutes), limit / 2)
        return IdlePolicy(timeout=limit, warning=warning)

    return of
