"""When idleness becomes a warning and then a stop, and which evidence counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tidepool.auth.idle_choices import IdleChoices
from tidepool.domain.activity import Evidence, IdleBounds, IdlePolicy, Signal, Verdict, latest
from tidepool.domain.names import WorkspaceName
from tidepool.domain.workspace import Workspace
from tidepool.errors import ConflictError
from tidepool.policies import idle_choices, idle_policy_for, lifetime_policy_for
from tidepool.settings import Settings

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
POLICY = IdlePolicy(timeout=timedelta(minutes=30), warning=timedelta(minutes=5))


@pytest.mark.parametrize(
    ("idle", "verdict"),
    [
        (timedelta(0), Verdict.ACTIVE),
        (timedelta(minutes=24, seconds=59), Verdict.ACTIVE),
        (timedelta(minutes=25), Verdict.WARN),
        (timedelta(minutes=29, seconds=59), Verdict.WARN),
        (timedelta(minutes=30), Verdict.STOP),
        (timedelta(hours=5), Verdict.STOP),
    ],
)
def test_the_verdict_follows_the_time_since_the_last_signal(
    idle: timedelta, verdict: Verdict
) -> None:
    assert POLICY.verdict(T0, T0 + idle) is verdict


def test_no_warning_means_straight_from_active_to_stop() -> None:
    policy = IdlePolicy(timeout=timedelta(minutes=1), warning=timedelta(0))
    assert policy.verdict(T0, T0 + timedelta(seconds=59)) is Verdict.ACTIVE
    assert policy.verdict(T0, T0 + timedelta(minutes=1)) is Verdict.STOP


@pytest.mark.parametrize(
    ("timeout", "warning"),
    [(timedelta(0), timedelta(0)), (timedelta(minutes=5), timedelta(minutes=5))],
)
def test_a_policy_that_cannot_work_is_refused(timeout: timedelta, warning: timedelta) -> None:
    with pytest.raises(ValueError, match="idle"):
        IdlePolicy(timeout=timeout, warning=warning)


def test_the_latest_evidence_wins_and_names_its_signal() -> None:
    start = Evidence(Signal.START, T0)
    sleep = Evidence(Signal.WORK, T0 + timedelta(minutes=3), "sleep 600")
    ide = Evidence(Signal.IDE, T0 + timedelta(minutes=1))
    assert latest([start, sleep, ide]) == sleep
    assert latest([]) is None


def test_a_templates_own_timeout_and_lifetime_win_and_zero_is_none(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        idle_timeout_minutes=30,
        idle_warning_minutes=5,
        max_lifetime_hours=0,
        templates=[
            {"name": "gpu", "idle_timeout_minutes": 4, "max_lifetime_hours": 8},
            {"name": "forever", "idle_timeout_minutes": 0},
        ],
    )
    idle, lifetime = idle_policy_for(settings), lifetime_policy_for(settings)

    of = workspace_of("ann")

    assert idle(of("default")) == IdlePolicy(timedelta(minutes=30), timedelta(minutes=5))
    # The warning is at most half the timeout.
    assert idle(of("gpu")) == IdlePolicy(timedelta(minutes=4), timedelta(minutes=2))
    assert idle(of("forever")) is None
    assert lifetime(of("gpu")) == IdlePolicy(timedelta(hours=8), timedelta(minutes=5))
    assert lifetime(of("default")) is None


def workspace_of(owner: str) -> Callable[[str], Workspace]:
    def of(template: str) -> Workspace:
        return Workspace(name=WorkspaceName("w"), owner=owner, image="img", template=template)

    return of


def test_a_users_own_timeout_wins_over_the_templates_within_the_bounds(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        idle_timeout_minutes=30,
        idle_warning_minutes=5,
        idle_timeout_user_min_minutes=10,
        idle_timeout_user_max_minutes=120,
        templates=[{"name": "gpu", "idle_timeout_minutes": 4}],
    )
    idle, choices = idle_policy_for(settings), idle_choices(settings)
    choices.choose("ann", 90)
    ann, bob = workspace_of("ann"), workspace_of("bob")
    assert idle(ann("default")) == IdlePolicy(timedelta(minutes=90), timedelta(minutes=5))
    assert idle(ann("gpu")) == IdlePolicy(timedelta(minutes=90), timedelta(minutes=5))
    assert idle(bob("gpu")) == IdlePolicy(timedelta(minutes=4), timedelta(minutes=2))
    # A choice outside the bounds is refused and changes nothing.
    for minutes in (5, 121):
        with pytest.raises(ConflictError, match="10 to 120 minutes"):
            choices.choose("ann", minutes)
    assert choices.chosen("ann") == 90
    # Bounds an admin narrowed later hold the old choice to them; forgetting it gives the
    # template's again.
    narrower = Settings(
        data_dir=tmp_path, idle_timeout_user_min_minutes=10, idle_timeout_user_max_minutes=60
    )
    assert idle_policy_for(narrower)(ann("default")) == IdlePolicy(
        timedelta(minutes=60), timedelta(minutes=5)
    )
    choices.choose("ann", None)
    assert idle(ann("gpu")) == IdlePolicy(timedelta(minutes=4), timedelta(minutes=2))


def test_users_may_not_choose_when_the_admin_closed_the_bounds(tmp_path: Path) -> None:
    choices = IdleChoices(tmp_path / "choices.json", IdleBounds(10, 120), 30)
    choices.choose("ann", 60)
    closed = IdleChoices(tmp_path / "choices.json", IdleBounds(10, 0), 30)
    assert closed.of("ann") is None and closed.chosen("ann") == 60
    with pytest.raises(ConflictError, match="does not let users choose"):
        closed.choose("ann", 60)


def test_bounds_out_of_order_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="idle_timeout_user_min_minutes"):
        Settings(idle_timeout_user_min_minutes=60, idle_timeout_user_max_minutes=30)
