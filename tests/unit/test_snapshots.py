"""Snapshot names and the retention of automatic snapshots: a user's are never pruned, the
newest N automatic ones are kept, and none older than D days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidepool.domain.snapshots import (
    Retention,
    Snapshot,
    Why,
    automatic_name,
    taken_at,
    validate_snapshot_name,
)
from tidepool.errors import InvalidInputError

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def auto(hours_ago: float, why: Why = Why.DELETE) -> Snapshot:
    at = (NOW - timedelta(hours=hours_ago)).replace(microsecond=0)
    return Snapshot(automatic_name(why, at), at)


def test_an_automatic_name_says_why_and_when_and_reads_back() -> None:
    at = datetime(2026, 12, 7, 9, 30, 15, tzinfo=UTC)
    name = automatic_name(Why.IDLE, at)
    assert name == "auto-idle-20261207T093015Z"
    assert taken_at(name) == at
    assert taken_at("before-upgrade") is None


@pytest.mark.parametrize("name", ["auto-mine", "Upper", "1st", "a" * 64, "a_b", "", "-x"])
def test_a_name_a_user_may_not_give_is_refused(name: str) -> None:
    with pytest.raises(InvalidInputError, match="snapshot name"):
        validate_snapshot_name(name)


def test_the_newest_n_are_kept_and_a_users_never_pruned() -> None:
    mine = Snapshot("before-upgrade", NOW - timedelta(days=300))
    snapshots = [auto(1), auto(2), auto(3), auto(4), mine]
    doomed = Retention(keep=2, days=0).expired(snapshots, NOW)
    assert doomed == [auto(4), auto(3)], "oldest first"


def test_none_older_than_d_days_is_kept() -> None:
    snapshots = [auto(1), auto(24 * 3), auto(24 * 8, Why.IDLE)]
    assert Retention(keep=0, days=7).expired(snapshots, NOW) == [auto(24 * 8, Why.IDLE)]
    assert Retention(keep=0, days=0).expired(snapshots, NOW) == [], "kept until deleted"
    assert Retention(keep=1, days=7).expired(snapshots, NOW) == [auto(24 * 8, Why.IDLE), auto(72)]


def test_retention_says_until_when_and_refuses_negative_bounds() -> None:
    assert Retention(days=7).keeps_until(NOW) == NOW + timedelta(days=7)
    assert Retention(days=0).keeps_until(NOW) is None
    with pytest.raises(InvalidInputError):
        Retention(keep=-1)
