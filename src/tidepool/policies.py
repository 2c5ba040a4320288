"""What the settings decide per user and per workspace: quotas and idle stops.

Read fresh at each use, so an admin's change (``tidepool user quota``, a template's timeout
in the config file after a restart) and a user's (their own idle timeout) apply without
touching the workspaces.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tidepool.auth.idle_choices import IdleChoices
from tidepool.domain.activity import IdlePolicy
from tidepool.domain.placement import PlacementPolicy
from tidepool.domain.quotas import Quota
from tidepool.domain.workspace import Workspace
from tidepool.settings import Settings
from tidepool.sign_in_records import idle_choices as idle_choices_of
from tidepool.sign_in_records import users as users_of


def quota_of(settings: Settings) -> Callable[[str], Quota]:
    """Each user's quota: the platform's (``quota_*``), with what the users file gives them
    instead (an admin's ``tidepool user quota``), read fresh at each check."""
    users = users_of(settings)

    def of(name: str) -> Quota:
        user = next((u for u in users.load() if u.name == name), None)
        own = user.quota if user is not None else {}
        return settings.default_quota.with_overrides({k: v or None for k, v in own.items()})

    return of


def idle_choices(settings: Settings) -> IdleChoices:
    """Users' own idle timeouts, within the bounds the settings give."""
    return idle_choices_of(settings)


def idle_policy_for(settings: Settings) -> Callable[[Workspace], IdlePolicy | None]:
    """Each workspace's idle policy: its owner's own timeout (held to the admin's bounds),
    else its template's, else the platform's; None (never stopped for idleness) when that
    is 0. The warning is at most half the timeout."""
    choices = idle_choices(settings)
    own = {t.name: t.idle_timeout_minutes for t in settings.templates}
    by_template = _countdown(settings, own, settings.idle_timeout_minutes, timedelta(minutes=1))

    def of(workspace: Workspace) -> IdlePolicy | None:
        chosen = choices.of(workspace.owner)
        if chosen is None:
            return by_template(workspace)
        return _policy(settings, timedelta(minutes=chosen))

    return of


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
        return _policy(settings, unit * (default if length is None else length))

    return of


def _policy(settings: Settings, limit: timedelta) -> IdlePolicy | None:
    """A countdown of ``limit`` (none when it is 0), warned ``idle_warning_minutes`` ahead,
    at most half of it."""
    if limit <= timedelta(0):
        return None
    warning = min(timedelta(minutes=settings.idle_warning_minutes), limit / 2)
    return IdlePolicy(timeout=limit, warning=warning)


def placement_for(settings: Settings) -> Callable[[Workspace], tuple[PlacementPolicy, str]]:
    """Each workspace's placement on a cluster: the platform's policy, and its template's
    cluster group ("": any member)."""
    groups = {t.name: t.cluster_group for t in settings.templates}

    def of(workspace: Workspace) -> tuple[PlacementPolicy, str]:
        return settings.placement, groups.get(workspace.template, "")

    return of
