"""Tidepool's block in ``authorized_keys``: every line outside it stays exactly as it was."""

from __future__ import annotations

from tidepool.domain.authorized_keys import BEGIN, END, keys_in, merge

MINE = 'from="10.0.0.0/8" ssh-ed25519 AAAAmine by-hand\n# my note\n'
KEY_A, KEY_B = "ssh-ed25519 AAAAa laptop", "ssh-ed25519 AAAAb desktop"


def test_keys_are_added_beside_the_users_own_lines_and_replaced_in_place() -> None:
    first = merge(MINE, [KEY_A])
    assert first.startswith(MINE) and keys_in(first) == [KEY_A]
    edited = first + "ssh-rsa AAAAlater added-by-hand\n"
    second = merge(edited, [KEY_B, KEY_A])
    assert keys_in(second) == [KEY_B, KEY_A]
    assert second.replace(f"{KEY_B}\n", "") == edited
    assert merge(second, [KEY_B, KEY_A]) == second  # nothing to change: the same text


def test_no_keys_leaves_no_block_and_an_empty_file_stays_empty() -> None:
    assert merge("", []) == ""
    assert merge(merge(MINE, [KEY_A]), []) == MINE
    assert merge("ssh-ed25519 AAAAx no-newline", [KEY_A]).startswith(
        "ssh-ed25519 AAAAx no-newline\n"
    )


def test_stray_markers_never_swallow_the_users_lines() -> None:
    """A copied or half-deleted marker is the user's line like any other."""
    stray = f"{END}\nkeep-1\n{BEGIN}\nkeep-2\n"
    merged = merge(stray, [KEY_A])
    assert merged.startswith(stray) and keys_in(merged) == [KEY_A]
    again = merge(merged, [KEY_B])
    assert again.startswith(stray) and keys_in(again) == [KEY_B]
