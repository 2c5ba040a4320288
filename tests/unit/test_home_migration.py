"""The home migration's plan: from any state a SIGKILL can leave, the next step leads on,
and running the plan from any of them ends migrated, through the same steps."""

from __future__ import annotations

import itertools

import pytest

from tidepool.domain.home_migration import Facts, Step, next_step


def apply(step: Step, facts: Facts) -> Facts:
    """What each step makes true (as the real steps will)."""
    changes = {
        Step.MAKE_VOLUME: {"volume_exists": True},
        Step.START: {"running": True},
        Step.COPY: {"copied": True},
        Step.STOP: {"running": False},
        Step.ATTACH: {"attached": True},
    }[step]
    values = {
        "volume_exists": facts.volume_exists,
        "attached": facts.attached,
        "copied": facts.copied,
        "running": facts.running,
    }
    return Facts(**(values | changes))


def test_a_workspace_from_before_volumes_goes_through_every_step_in_order() -> None:
    facts, steps = Facts(volume_exists=False, attached=False, copied=False, running=True), []
    while (step := next_step(facts)) is not Step.DONE:
        steps.append(step)
        facts = apply(step, facts)
    assert steps == [Step.MAKE_VOLUME, Step.COPY, Step.STOP, Step.ATTACH]


#: Every state but the impossible ones: the copy's marker lives in the volume.
STATES = [
    (volume, attached, copied, running)
    for volume, attached, copied, running in itertools.product([False, True], repeat=4)
    if volume or not copied
]


@pytest.mark.parametrize("start", STATES)
def test_from_any_state_a_kill_leaves_the_plan_ends_migrated_in_a_few_steps(
    start: tuple[bool, bool, bool, bool],
) -> None:
    volume_exists, attached, copied, running = start
    facts = Facts(volume_exists, attached, copied, running)
    for _ in range(6):
        step = next_step(facts)
        if step is Step.DONE:
            break
        facts = apply(step, facts)
    assert next_step(facts) is Step.DONE and facts.attached
    if not attached:
        assert facts.copied, "never attached before home was copied whole"


def test_a_copy_is_never_attached_before_its_marker() -> None:
    stopped_uncopied = Facts(volume_exists=True, attached=False, copied=False, running=False)
    assert next_step(stopped_uncopied) is Step.START
    copied_running = Facts(volume_exists=True, attached=False, copied=True, running=True)
    assert next_step(copied_running) is Step.STOP
