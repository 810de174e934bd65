"""One writer at a time per data dir.

``download`` and ``extract`` hold an exclusive lock on ``<state>/lock`` while they change the
data dir. The lock is an OS file lock (``flock`` via filelock): the kernel drops it when its
process dies, so a killed process never blocks the next run. A second process waits up to
``timeout`` seconds, then fails with :class:`~lungsegdb_cli.errors.LockTimeout` (exit 5).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from lungsegdb_cli.errors import LockTimeout, from_os_error
from lungsegdb_cli.paths import DataPaths

ENV_TIMEOUT = "LUNGSEGDB_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 3 * 3600.0


def lock_timeout() -> float:
    try:
        return float(os.environ.get(ENV_TIMEOUT, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


@contextmanager
def data_lock(paths: DataPaths, timeout: float | None = None) -> Iterator[bool]:
    """Hold the data dir's lock. Yields True if we had to wait for another process."""
    import filelock

    timeout = lock_timeout() if timeout is None else timeout
    try:
        paths.ensure_state_dir()
    except OSError as exc:
        raise from_os_error(exc, f"creating {paths.state_dir}") from exc
    # is_singleton: one lock object per path in this process, so nested use (download ->
    # extract) re-enters instead of deadlocking; other processes are still excluded.
    lock = filelock.FileLock(str(paths.lock), is_singleton=True)
    waited = False
    try:
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            waited = True
            lock.acquire(timeout=timeout)
    except filelock.Timeout as exc:
        raise LockTimeout(
            f"Another lungsegdb process held the lock on {paths.root} for over {timeout:.0f} s",
            hint=f"Wait for it to finish, or raise {ENV_TIMEOUT} (seconds).",
            lock=str(paths.lock),
        ) from exc
    except OSError as exc:
        raise from_os_error(exc, f"locking {paths.lock}") from exc
    try:
        yield waited
    finally:
        lock.release()
