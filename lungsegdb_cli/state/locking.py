"""The data dir's locks: one design, two lock files, ``flock`` shared/exclusive.

* ``<state>/lock`` -- the **writer lock**, exclusive, held by ``download`` and ``extract`` for
  their whole run (fetch, staging, commit), so two writers never prepare at once.
* ``<state>/tree.lock`` -- the **generation lock**: readers (``verify``, ``validate``,
  ``stats``, ``info``) hold it *shared* for their whole run; a writer holds it *exclusive* only
  for the commit step of :mod:`lungsegdb_cli.state.commit` (a few renames), so a reader sees one
  generation of the tree from start to end, never a swap half-done.

Both are ``flock(2)`` locks on an open file: the kernel drops them when their process dies, so
a killed run never blocks the next one. A lock that is busy is polled until ``timeout`` seconds
(``LUNGSEGDB_LOCK_TIMEOUT``, default 3 h), then :class:`~lungsegdb_cli.errors.LockTimeout`
(exit 5). Within one process the locks are re-entrant (``download`` calls ``extract``; a
writer's commit takes the generation lock it may already hold); a shared hold is never
upgraded to exclusive in place (two upgraders would deadlock), callers release and re-take.

On a platform without ``fcntl`` (Windows) both modes fall back to an exclusive byte-range lock
(``msvcrt.locking``).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import LockTimeout, from_os_error
from lungsegdb_cli.utils import envvars

ENV_TIMEOUT = "LUNGSEGDB_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 3 * 3600.0
SHARED = "shared"
EXCLUSIVE = "exclusive"
_POLL = 0.05


def lock_timeout(env: dict[str, str] | None = None) -> float:
    """Seconds to wait for a busy lock: ``LUNGSEGDB_LOCK_TIMEOUT`` (finite, >= 0) or 3 h."""
    return envvars.seconds(ENV_TIMEOUT, DEFAULT_TIMEOUT, env)


@dataclass
class _Held:
    fd: int  # -1 while its owner is still waiting for the flock
    mode: str
    count: int
    owner: int  # the thread that holds it; others in this process wait like other processes


_held: dict[str, _Held] = {}
_cond = threading.Condition()


def _flock(fd: int, mode: str) -> bool:
    """Try to take the lock without blocking; True if taken."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return _fallback_lock(fd)
    op = fcntl.LOCK_SH if mode == SHARED else fcntl.LOCK_EX
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _fallback_lock(fd: int) -> bool:  # pragma: no cover - Windows
    import msvcrt

    try:
        # mypy checks for the platform it runs on: msvcrt's stubs are Windows-only
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
    except OSError:
        return False
    return True


def _open_lock_file(path: Path) -> int:
    """Open (creating if we may) the lock file; read-only data dirs still get a shared lock."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise
        try:
            return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            # none to read either: the reason is the first one (a read-only file system),
            # not the missing file
            raise exc from None


@contextmanager
def hold(
    path: Path,
    mode: str,
    *,
    timeout: float | None = None,
    what: str = "the data dir",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bool]:
    """Hold the ``flock`` on ``path`` in ``mode``; yields True if we had to wait for it.

    Re-entrant for the thread that holds it; another thread of this process waits as another
    process would."""
    key = os.fspath(path)
    me = threading.get_ident()
    timeout = lock_timeout() if timeout is None else timeout
    deadline = clock() + timeout
    waited = False
    with _cond:
        while True:
            held = _held.get(key)
            if held is None:
                entry = _Held(-1, mode, 1, me)
                _held[key] = entry
                break
            if held.owner == me:
                if mode == EXCLUSIVE and held.mode == SHARED:
                    raise RuntimeError(f"lock {key} is held shared: release it, then take it")
                held.count += 1
                entry = held
                break
            waited = True
            left = deadline - clock()
            if left <= 0:
                raise _timeout(what, timeout, key)
            _cond.wait(min(left, 1.0))
    try:
        if entry.fd < 0:
            entry.fd, polled = _take(path, mode, deadline, what, timeout, clock, sleep)
            waited = waited or polled
        yield waited
    finally:
        with _cond:
            entry.count -= 1
            if entry.count == 0:
                del _held[key]
                if entry.fd >= 0:
                    os.close(entry.fd)  # closing the descriptor releases the flock
                _cond.notify_all()


def _timeout(what: str, timeout: float, key: str) -> LockTimeout:
    return LockTimeout(
        f"Another lungsegdb process held the lock on {what} for over {timeout:.0f} s",
        hint=f"Wait for it to finish, or raise {ENV_TIMEOUT} (seconds).",
        lock=key,
    )


def _take(
    path: Path,
    mode: str,
    deadline: float,
    what: str,
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> tuple[int, bool]:
    """Open the lock file and poll its flock until ``deadline``: (descriptor, waited)."""
    try:
        fd = _open_lock_file(path)
    except OSError as exc:
        raise from_os_error(exc, f"open the lock file {path}") from exc
    polled = False
    try:
        while not _flock(fd, mode):
            polled = True
            if clock() >= deadline:
                raise _timeout(what, timeout, os.fspath(path))
            sleep(_POLL)
    except BaseException:
        os.close(fd)
        raise
    return fd, polled


def held_mode(path: Path) -> str | None:
    """The mode this process holds ``path`` in, or None."""
    with _cond:
        h = _held.get(os.fspath(path))
        return h.mode if h is not None else None


def try_lock(fd: int, mode: str) -> bool:
    """Take the ``flock`` on the open descriptor ``fd`` in ``mode`` without waiting; True if
    taken. Closing the descriptor releases it. For a lock file its caller opens itself (an
    export's ``.OUT.lock``: opened once to lock, check and mark); the data dir's locks go
    through :func:`hold`."""
    return _flock(fd, mode)


def _ensure_state(paths: DataPaths) -> bool:
    """Create the state folder if we can; False on a read-only data dir."""
    try:
        paths.ensure_state_dir()
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            return paths.state_dir.is_dir()
        raise from_os_error(exc, f"create {paths.state_dir}") from exc
    return True


@contextmanager
def writer_lock(paths: DataPaths, timeout: float | None = None) -> Iterator[bool]:
    """Hold the writer lock (exclusive). Yields True if we had to wait for another process."""
    try:
        paths.ensure_state_dir()
    except OSError as exc:
        raise from_os_error(exc, f"create {paths.state_dir}") from exc
    with hold(paths.lock, EXCLUSIVE, timeout=timeout, what=str(paths.root)) as waited:
        yield waited


@contextmanager
def generation_lock(paths: DataPaths, mode: str, timeout: float | None = None) -> Iterator[bool]:
    """Hold the generation lock in ``mode``.

    A reader creates nothing: where there is no state folder yet, or no lock file in a folder
    it may not write (a read-only data dir), it holds nothing -- lungsegdb creates both before
    it ever swaps a tree there."""
    if mode == SHARED:
        if not paths.state_dir.is_dir() or (
            not paths.tree_lock.exists() and not os.access(paths.state_dir, os.W_OK)
        ):
            yield False
            return
    elif not _ensure_state(paths):
        raise from_os_error(
            PermissionError(errno.EACCES, "read-only", str(paths.state_dir)),
            f"lock {paths.state_dir}",
        )
    with hold(paths.tree_lock, mode, timeout=timeout, what=str(paths.root)) as waited:
        yield waited


#: The old name of :func:`writer_lock`.
data_lock = writer_lock
