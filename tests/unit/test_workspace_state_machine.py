import pytest

from tidepool.domain.workspace import (
    ALLOWED_ACTIONS,
    TRANSITIONS,
    Action,
    Desired,
    Status,
    Workspace,
)
from tidepool.errors import ConflictError


def ws(status: Status = Status.PENDING, desired: Desired = Desired.RUNNING) -> Workspace:
    return Workspace(name="w", owner="o", image="i", status=status, desired=desired)


@pytest.mark.parametrize("start", list(Status))
@pytest.mark.parametrize("end", list(Status))
def test_every_move_follows_the_one_transition_table(start: Status, end: Status) -> None:
    workspace = ws(start)
    if end is start and end is not Status.FAILED:
        assert workspace.move_to(end) is workspace
    elif end in TRANSITIONS[start]:
        moved = workspace.move_to(end, error="boom")
        assert moved.status is end
        assert moved.error == ("boom" if end in (Status.FAILED, Status.UNAVAILABLE) else "")
    else:
        with pytest.raises(ConflictError, match=f"from {start.value} to {end.value}"):
            workspace.move_to(end)


def test_deleted_is_final() -> None:
    assert TRANSITIONS[Status.DELETED] == frozenset()


def test_failed_can_recover_by_start_stop_or_delete() -> None:
    failed = ws(Status.FAILED)
    assert failed.request(Action.START).desired is Desired.RUNNING
    assert failed.request(Action.STOP).desired is Desired.STOPPED
    assert failed.request(Action.DELETE).desired is Desired.DELETED


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("status", list(Status))
def test_a_refused_action_names_the_action_and_the_status(action: Action, status: Status) -> None:
    workspace = ws(status)
    if status in ALLOWED_ACTIONS[action]:
        assert workspace.request(action).desired.value in {"running", "stopped", "deleted"}
    else:
        with pytest.raises(ConflictError) as refused:
            workspace.request(action)
        assert action.value in str(refused.value) and status.value in str(refused.value)


def test_deleting_twice_is_harmless() -> None:
    deleting = ws(Status.DELETING, Desired.DELETED)
    assert deleting.request(Action.DELETE) is deleting


def test_settled_means_status_matches_desire() -> None:
    assert ws(Status.RUNNING, Desired.RUNNING).settled
    assert not ws(Status.RUNNING, Desired.STOPPED).settled
    assert ws(Status.DELETED, Desired.DELETED).settled
    assert not ws(Status.FAILED, Desired.RUNNING).settled
