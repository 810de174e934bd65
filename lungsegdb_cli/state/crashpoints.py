"""Named crash points of the runs that change a data dir, and the hook called at each.

:func:`checkpoint` marks a step (``staging``, ``journal written``, ``put LungSegDB``, ...). The
default hook is driven by two test-only environment variables: ``LUNGSEGDB_CRASH_AT=N`` kills
the process (SIGKILL) at the N-th checkpoint it reaches (``N:interrupt`` raises
``KeyboardInterrupt`` there instead), and ``LUNGSEGDB_CRASH_TRACE=FILE`` appends every
checkpoint's number and name to FILE. Without them a checkpoint costs a counter increment.
Tests inject their own hook with :func:`set_hook`.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from typing import Protocol

ENV_CRASH_AT = "LUNGSEGDB_CRASH_AT"
ENV_CRASH_TRACE = "LUNGSEGDB_CRASH_TRACE"


class CrashHook(Protocol):
    """Called at every step of a run that changes the data dir, with the step's name."""

    def __call__(self, point: str) -> None: ...


class EnvCrashHook:
    """The test-only hook driven by ``LUNGSEGDB_CRASH_AT`` / ``LUNGSEGDB_CRASH_TRACE``."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        at, _, how = env.get(ENV_CRASH_AT, "").partition(":")
        self._at = int(at) if at.strip().isdigit() else 0
        self._how = how or "kill"
        self._trace = env.get(ENV_CRASH_TRACE) or None
        self._count = 0

    def __call__(self, point: str) -> None:
        self._count += 1
        if self._trace:
            with open(self._trace, "a", encoding="utf-8") as fh:
                fh.write(f"{self._count} {point}\n")
        if self._count != self._at:
            return
        if self._how == "interrupt":
            raise KeyboardInterrupt
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


_hook: CrashHook | None = None


def no_hook(point: str) -> None:
    """A hook that does nothing (finishing a commit after Ctrl-C)."""
    return None


def set_hook(hook: CrashHook | None) -> None:
    """Install the process's crash hook (None: the environment-driven default)."""
    global _hook
    _hook = hook


def checkpoint(point: str) -> None:
    """A named step of a run that changes the data dir (see ``LUNGSEGDB_CRASH_AT``)."""
    global _hook
    if _hook is None:
        _hook = EnvCrashHook()
    _hook(point)
