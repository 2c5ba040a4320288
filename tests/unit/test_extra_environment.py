"""The environment a template or dev container adds: each pair checked on its own, and the
two files it is written into, which no value can break out of."""

from __future__ import annotations

import pytest

from tidepool.domain.extra_environment import (
    MAX_VALUE_LENGTH,
    extra_environment_problem,
    render_extra_environment,
)
from tidepool.errors import InvalidInputError


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("1ST", "x"),
        ("WITH-DASH", "x"),
        ("", "x"),
        ("A", "it's"),
        ("A", 'say "hi"'),
        ("A", "$HOME"),
        ("A", "`id`"),
        ("A", "back\\slash"),
        ("A", "two\nlines"),
        ("A", "carriage\rreturn"),
        ("A", "tab\there"),
        ("A", "nul\x00"),
        ("A", "x" * (MAX_VALUE_LENGTH + 1)),
    ],
)
def test_a_pair_that_could_break_out_is_a_problem(name: str, value: str) -> None:
    assert extra_environment_problem(name, value)
    with pytest.raises(InvalidInputError):
        render_extra_environment({"GOOD": "1", name: value})


def test_the_files_hold_every_pair_in_order() -> None:
    env_file, profile = render_extra_environment({"b_lower": "two words", "A": "", "C": "é=1"})
    assert env_file.decode() == "A=\nC=é=1\nb_lower=two words\n"
    assert profile.decode().splitlines()[1:] == [
        "export A=''",
        "export C='é=1'",
        "export b_lower='two words'",
    ]
    assert extra_environment_problem("b_lower", "x" * MAX_VALUE_LENGTH) == ""
