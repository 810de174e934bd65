"""The crash-point harness for any command that changes a data dir.

A command runs in a child process (``python -m lungsegdb_cli``) with
``LUNGSEGDB_CRASH_AT=N``, which SIGKILLs it at the N-th checkpoint it reaches
(``lungsegdb_cli/state/crashpoints.py``); a first traced run (``LUNGSEGDB_CRASH_TRACE``) names
the checkpoints of a complete run. :func:`crash_everywhere` kills the command at each of them,
each time in a fresh copy of the same data dir, and returns the copies for the test to run the
next command on. tests/state/test_commit.py holds the download and extract harness built on
the same two variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CRASH_AT = "LUNGSEGDB_CRASH_AT"
CRASH_TRACE = "LUNGSEGDB_CRASH_TRACE"


def child(
    argv: list[str], env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``lungsegdb ARGV`` in a child process (no fsync, no source from the environment)."""
    env = {**os.environ, **(env_extra or {}), "LUNGSEGDB_SYNC": "0"}
    for name in ("LUNGSEGDB_SHA256", "LUNGSEGDB_URL", CRASH_AT, CRASH_TRACE):
        if name not in (env_extra or {}):
            env.pop(name, None)
    cmd = [sys.executable, "-m", "lungsegdb_cli", *argv]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def checkpoints(argv_for: Callable[[Path], list[str]], base: Path, tmp: Path) -> list[str]:
    """The checkpoints a complete run of ``argv_for(root)`` passes on a copy of ``base``."""
    trial = tmp / "trace-run"
    shutil.copytree(base, trial, symlinks=True)
    trace = tmp / "trace.txt"
    proc = child(argv_for(trial), {CRASH_TRACE: str(trace)})
    assert proc.returncode == 0, proc.stderr
    shutil.rmtree(trial)
    if not trace.exists():
        return []
    return [line.split(" ", 1)[1] for line in trace.read_text().splitlines()]


@dataclass(frozen=True)
class Crash:
    """The data dir a child left when killed at checkpoint ``n`` (``point``)."""

    n: int
    point: str
    root: Path


def crash_everywhere(argv_for: Callable[[Path], list[str]], base: Path, tmp: Path) -> list[Crash]:
    """Kill ``argv_for(root)`` at every checkpoint of a complete run, each time in a fresh copy
    of ``base``; every child must die by SIGKILL there."""
    points = checkpoints(argv_for, base, tmp)
    assert points, "the command passes no checkpoint: nothing to crash"
    crashes = []
    for n, point in enumerate(points, start=1):
        root = tmp / f"crash-{n}"
        shutil.copytree(base, root, symlinks=True)
        proc = child(argv_for(root), {CRASH_AT: str(n)})
        assert proc.returncode == -9, f"step {n} ({point}) did not crash: {proc.stderr}"
        crashes.append(Crash(n, point, root))
    return crashes
