"""Fixtures shared by every tier. Real parts live in the tiers' own conftest files."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _no_instance_outlives_its_test() -> Iterator[None]:
    """Whatever a test's ``serve`` made is gone before the next test (``support.leftovers``)."""
    yield
    from support.leftovers import delete_what_they_made

    delete_what_they_made()
