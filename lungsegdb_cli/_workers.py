"""How many worker threads or processes to use by default: one place for every pool.

``LUNGSEGDB_WORKERS=N`` (a positive integer, validated by :mod:`lungsegdb_cli._envvars`) sets
the number; otherwise it is the number of CPUs this process may run on, at most ``cap``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from lungsegdb_cli import _envvars as envvars

ENV_WORKERS = "LUNGSEGDB_WORKERS"


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        n = os.cpu_count() or 1
    return max(1, n)


def default_workers(cap: int | None = None, env: Mapping[str, str] | None = None) -> int:
    """``$LUNGSEGDB_WORKERS`` if set (not capped), else :func:`cpus` capped at ``cap``.

    Raises :class:`~lungsegdb_cli.errors.UsageError` when the variable is set to anything but
    a positive integer (``0``, ``-1``, ``2.5``, ``abc``).
    """
    n = cpus() if cap is None else min(cpus(), max(1, cap))
    return envvars.positive_int(ENV_WORKERS, n, env)


def ignore_sigint() -> None:
    """Pool initializer: Ctrl+C is handled by the parent process, not by every worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
