"""How many worker threads or processes to use by default: one place for every pool.

``LUNGSEGDB_WORKERS=N`` (a positive integer, validated by :mod:`lungsegdb_cli.utils.envvars`) sets
the number, at most :func:`max_workers` (4 per CPU: more only costs memory, each decode process
holds its own interpreter and numpy); otherwise it is the number of CPUs this process may run
on, at most ``cap``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from lungsegdb_cli.utils import envvars
from lungsegdb_cli.utils.progress import Progress, note

ENV_WORKERS = "LUNGSEGDB_WORKERS"
#: ``LUNGSEGDB_WORKERS`` is capped at this many workers per CPU.
PER_CPU = 4


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        n = os.cpu_count() or 1
    return max(1, n)


def max_workers() -> int:
    """The most workers ``LUNGSEGDB_WORKERS`` may ask for: :data:`PER_CPU` per CPU."""
    return PER_CPU * cpus()


def default_workers(
    cap: int | None = None,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> int:
    """``$LUNGSEGDB_WORKERS`` if set (not capped by ``cap``, but at most :func:`max_workers`,
    with a warning noted on ``progress``), else :func:`cpus` capped at ``cap``.

    Raises :class:`~lungsegdb_cli.errors.UsageError` when the variable is set to anything but
    a positive integer (``0``, ``-1``, ``2.5``, ``abc``).
    """
    n = cpus() if cap is None else min(cpus(), max(1, cap))
    asked = envvars.positive_int(ENV_WORKERS, n, env)
    most = max_workers()
    if asked <= most:
        return asked
    if progress is not None:
        note(progress, too_many(asked, most))
    return most


def process_workers(
    cap: int | None = None,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> int:
    """:func:`default_workers` for a pool of *processes*: 1 in a daemonic process (a
    ``multiprocessing.Pool`` worker may not start children), where the work then runs in
    the process itself."""
    import multiprocessing

    n = default_workers(cap, env, progress)  # the variable is checked all the same
    return 1 if multiprocessing.current_process().daemon else n


def too_many(asked: int, most: int) -> str:
    """The warning for a ``LUNGSEGDB_WORKERS`` over the cap."""
    return (
        f"warning: {ENV_WORKERS}={asked:,} is more than {PER_CPU} per CPU "
        f"({cpus()} CPUs here): using {most}"
    )


def ignore_sigint() -> None:
    """Pool initializer: Ctrl+C is handled by the parent process, not by every worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
