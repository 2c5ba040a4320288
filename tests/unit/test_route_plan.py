"""The one rule for which routes exist, as a table of cases.

Each row: a workspace's status (None: no workspace of that name), its address, what the
table holds for that name, and what the plan must do.
"""

from __future__ import annotations

import pytest

from tidepool.domain.routing import Route, RoutePlan, plan_routes
from tidepool.domain.workspace import Status, Workspace

S = Status
ANN = Route("10.0.0.2", "ann")
MOVED = Route("10.0.0.9", "ann")
BOB = Route("10.0.0.2", "bob")

CASES = [
    # status,       address,     in the table, expected
    (S.RUNNING, "10.0.0.2", None, "add"),
    (S.RUNNING, "10.0.0.2", ANN, "keep"),
    (S.RUNNING, "10.0.0.2", MOVED, "change"),  # the instance has a new address
    (S.RUNNING, "10.0.0.2", BOB, "change"),  # the owner changed
    (S.RUNNING, None, None, "keep"),  # running without an address: nothing to route to
    (S.RUNNING, None, ANN, "remove"),
    (S.PENDING, None, ANN, "remove"),
    (S.STOPPED, "10.0.0.2", ANN, "remove"),
    (S.STOPPED, "10.0.0.2", None, "keep"),
    (S.FAILED, "10.0.0.2", ANN, "remove"),
    (S.DELETED, "10.0.0.2", ANN, "remove"),
    (None, None, ANN, "remove"),  # a route no workspace owns
    # a job is working on these: its own steps add or remove the route, never a bulk pass
    (S.CREATING, None, None, "keep"),
    (S.STARTING, "10.0.0.2", None, "keep"),
    (S.STARTING, "10.0.0.2", ANN, "keep"),
    (S.STARTING, "10.0.0.2", MOVED, "keep"),
    (S.STOPPING, "10.0.0.2", ANN, "keep"),
    (S.DELETING, "10.0.0.2", ANN, "keep"),
]


def workspace(status: Status, address: str | None) -> Workspace:
    return Workspace(name="alpha", owner="ann", image="img", status=status, address=address)


@pytest.mark.parametrize(("status", "address", "held", "expected"), CASES)
def test_one_workspace(
    status: Status | None, address: str | None, held: Route | None, expected: str
) -> None:
    workspaces = [] if status is None else [workspace(status, address)]
    current = {} if held is None else {"alpha": held}
    plan = plan_routes(workspaces, current)
    want = Route(address or "", "ann")
    assert (
        plan
        == {
            "add": RoutePlan(add={"alpha": want}),
            "change": RoutePlan(change={"alpha": want}),
            "remove": RoutePlan(remove=("alpha",)),
            "keep": RoutePlan(),
        }[expected]
    )
    assert plan.empty is (expected == "keep")


def test_many_workspaces_at_once_each_by_the_same_rule() -> None:
    running = Workspace(name="a", owner="ann", image="i", status=S.RUNNING, address="10.0.0.3")
    stopped = Workspace(name="b", owner="bob", image="i", status=S.STOPPED, address="10.0.0.4")
    starting = Workspace(name="c", owner="cy", image="i", status=S.STARTING, address="10.0.0.5")
    current = {
        "b": Route("10.0.0.4", "bob"),
        "c": Route("10.0.0.5", "cy"),
        "zombie": Route("10.0.0.6"),
    }
    plan = plan_routes([running, stopped, starting], current)
    assert plan == RoutePlan(add={"a": Route("10.0.0.3", "ann")}, remove=("b", "zombie"))
