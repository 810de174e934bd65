"""The argument checks of a public call (:mod:`lungsegdb_cli.utils.arguments`): its examples,
and the flag rule on its own (behaviour through the API: tests/api/test_argument_types.py)."""

from __future__ import annotations

import doctest
import enum

import pytest

# internals: the checks module itself (its examples, the flag rule)
from lungsegdb_cli.utils import arguments


def test_the_examples_run() -> None:
    result = doctest.testmod(arguments)
    assert result.failed == 0 and result.attempted > 0


class Switch(enum.IntEnum):
    OFF = 0
    ON = 1
    LOUD = 2


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        (True, True),
        (Switch.ON, True),
        (Switch.OFF, True),
        (Switch.LOUD, False),
        ("true", False),
        (b"1", False),
        (None, False),
        (0.0, False),
        ([1], False),
    ],
    ids=lambda v: repr(v),
)
def test_what_counts_as_a_flag(value: object, flag: bool) -> None:
    assert arguments.is_flag(value) is flag
