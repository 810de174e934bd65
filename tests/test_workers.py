"""The one default worker count: CPUs of this process (capped), or ``LUNGSEGDB_WORKERS``."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from lungsegdb_cli import _decodepass as decodepass
from lungsegdb_cli import _hashing as hashing
from lungsegdb_cli import _workers
from lungsegdb_cli.errors import UsageError


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


@pytest.mark.parametrize(
    ("env", "cap", "expected"),
    [
        ({}, None, "cpus"),
        ({}, 1, 1),
        ({}, 10_000, "cpus"),
        ({"LUNGSEGDB_WORKERS": ""}, None, "cpus"),
        ({"LUNGSEGDB_WORKERS": "  "}, 1, 1),
        ({"LUNGSEGDB_WORKERS": "3"}, None, 3),
        ({"LUNGSEGDB_WORKERS": "12"}, 8, 12),  # an explicit number is not capped
        ({"LUNGSEGDB_WORKERS": " 2 "}, None, 2),
    ],
)
def test_default_workers(env: dict[str, str], cap: int | None, expected: int | str) -> None:
    want = _cpus() if expected == "cpus" else expected
    assert _workers.default_workers(cap, env) == want


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "abc", "nan", "inf"])
def test_a_bad_workers_variable_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="LUNGSEGDB_WORKERS"):
        _workers.default_workers(None, {"LUNGSEGDB_WORKERS": value})


@pytest.mark.parametrize(
    ("default", "cap"),
    [(hashing.default_workers, None),
     (decodepass.default_workers, 8)],
)  # fmt: skip
def test_every_pool_uses_the_one_default(
    monkeypatch: pytest.MonkeyPatch, default: Callable[[], int], cap: int | None
) -> None:
    monkeypatch.delenv("LUNGSEGDB_WORKERS", raising=False)
    assert default() == _workers.default_workers(cap)
    monkeypatch.setenv("LUNGSEGDB_WORKERS", "5")
    assert default() == 5
