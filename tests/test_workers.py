"""The one default worker count: CPUs of this process (capped), or ``LUNGSEGDB_WORKERS`` (at
most 4 per CPU, with a warning)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from lungsegdb_cli import _decodepass as decodepass
from lungsegdb_cli import _hashing as hashing
from lungsegdb_cli import _workers
from lungsegdb_cli._progress import NullProgress
from lungsegdb_cli.cli import run
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
        ({"LUNGSEGDB_WORKERS": "3"}, 1, 3),  # an explicit number is not capped by `cap`
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


# ---------------------------------------------------------------------------------------------
# LUNGSEGDB_WORKERS is capped at 4 per CPU (4,096 workers took 24 GB and the OOM killer)
# ---------------------------------------------------------------------------------------------
class Notes(NullProgress):
    """A progress renderer that keeps its notes (the warning channel)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, message: str) -> None:
        self.lines.append(message)


def test_workers_over_four_per_cpu_are_capped_with_a_warning() -> None:
    env = {"LUNGSEGDB_WORKERS": "4096"}
    assert _workers.default_workers(None, env) == 4 * _cpus()
    notes = Notes()
    assert _workers.default_workers(8, env, progress=notes) == 4 * _cpus()
    assert len(notes.lines) == 1
    assert "LUNGSEGDB_WORKERS=4,096" in notes.lines[0] and f"using {4 * _cpus()}" in notes.lines[0]
    # at the cap: as asked, no warning
    at_cap = {"LUNGSEGDB_WORKERS": str(4 * _cpus())}
    assert _workers.default_workers(None, at_cap, progress=notes) == 4 * _cpus()
    assert len(notes.lines) == 1


def test_stats_warns_on_stderr_about_too_many_workers(
    synth_tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LUNGSEGDB_WORKERS", str(4 * _cpus() + 1))
    assert run(["stats", "--data-dir", str(synth_tree), "--no-cache", "--json"]) == 0
    err = capsys.readouterr().err
    assert f"warning: LUNGSEGDB_WORKERS={4 * _cpus() + 1}" in err and "per CPU" in err
