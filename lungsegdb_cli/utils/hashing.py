"""Streaming SHA-256 of files, one at a time or many in parallel.

* :func:`hash_file` reads a file with large reads (``readv``) into one reused buffer (no
  per-chunk allocation) and feeds ``hashlib`` a ``memoryview`` slice of it.
* :func:`hash_many` hashes many files on a pool of threads (one per core by default). Both the
  ``read`` system call and ``hashlib``'s update on buffers over 2 KiB release the GIL, so the
  threads run truly in parallel. Files are scheduled largest first (the classic longest-job-first
  rule), so one big file (an archive) starts at once while the other threads share the rest.
  Results are yielded as they complete, handed over in small batches (the consumer then wakes,
  and takes the GIL, once per batch rather than once per file); nothing but the job list and a
  small queue is held, so memory stays flat in the size of the files.

Only regular files are ever read. A file is opened with ``O_NONBLOCK`` (opening a FIFO then
never waits for a writer) and ``fstat``-ed before the first read: a FIFO, device, socket or
folder (or a symlink to one) raises :class:`NotRegularFile` (``IsADirectoryError`` for a
folder) without a byte read, so ``/dev/zero`` or a FIFO can never make a check hang. With
``follow_symlinks=False`` (``O_NOFOLLOW``) a symlink is not opened at all: :class:`SymlinkFound`.

Per file the hot path is four system calls (``open``, ``fstat``, one ``readv`` for a file
smaller than the buffer, ``close``) and one ``update``. The ``fstat`` size also tells where the
file ends, so no final ``read`` returning 0 is needed. Every GIL hand-off saved matters when
two threads share the GIL over ten thousand files.

Per-file ``OSError`` s are not raised from worker threads: they come back in
:attr:`Hashed.error` and the caller decides (a vanished file is "missing", a permission error
stops the check, a FIFO or a symlink is reported).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from lungsegdb_cli.utils import workers as _workers

#: Read size. 1 MiB: large enough that syscall and GIL hand-off costs vanish next to SHA-256
#: (~1.3-1.7 GB/s per core with SHA-NI), small enough to stay in L2/L3 cache.
DEFAULT_BUFSIZE = 1 << 20

K = TypeVar("K", bound=Hashable)

ByteCallback = Callable[[int], None]


def default_workers() -> int:
    """One thread per CPU this process may run on (or ``LUNGSEGDB_WORKERS``)."""
    return _workers.default_workers()


class NotRegularFile(OSError):
    """The path is a FIFO, device or socket (or a symlink to one): it was not read."""

    def __init__(self, path: str | os.PathLike[str], mode: int) -> None:
        super().__init__(errno.EINVAL, f"not a regular file ({kind_of_mode(mode)})", str(path))
        self.mode = mode

    @property
    def kind(self) -> str:
        return kind_of_mode(self.mode)


class SymlinkFound(OSError):
    """``follow_symlinks=False`` and the path is a symlink: it was not followed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(errno.ELOOP, "a symlink (not followed)", str(path))


def kind_of_mode(mode: int) -> str:
    """``FIFO``, ``device``, ``socket``, ``folder``, ``symlink`` or ``file`` for an st_mode."""
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "file" if stat.S_ISREG(mode) else "special file"


def open_regular(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> tuple[int, int]:
    """``(fd, size)`` of the regular file at ``path``, opened read-only; the caller closes fd.

    Never blocks and reads nothing: a FIFO, device or socket (or a link to one) raises
    :class:`NotRegularFile`, a folder :class:`IsADirectoryError`, and with
    ``follow_symlinks=False`` a symlink raises :class:`SymlinkFound` without being opened.
    """
    flags = _OPEN_FLAGS if follow_symlinks else _OPEN_FLAGS | _NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_symlinks and exc.errno in _LINK_ERRNOS:
            raise SymlinkFound(path) from None
        if exc.errno in _SPECIAL_OPEN_ERRNOS:
            _raise_if_special(path, follow_symlinks)
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
            raise NotRegularFile(path, st.st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


#: What ``open`` says for a file that cannot be opened at all because of what it is: a
#: socket (ENXIO on Linux, EOPNOTSUPP on BSD/macOS), a device without its driver (ENXIO,
#: ENODEV).
_SPECIAL_OPEN_ERRNOS = frozenset(
    e for e in (errno.ENXIO, errno.ENODEV, getattr(errno, "EOPNOTSUPP", None)) if e is not None
)


def _raise_if_special(path: str | os.PathLike[str], follow_symlinks: bool) -> None:
    """:class:`NotRegularFile` if ``path`` is a socket or device (its ``open`` failed);
    otherwise return, and the caller re-raises the original error."""
    try:
        st = os.stat(path, follow_symlinks=follow_symlinks)
    except OSError:
        return
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise NotRegularFile(path, st.st_mode) from None


def read_regular(path: str | os.PathLike[str], limit: int = 64 << 20) -> bytes:
    """The bytes of the small regular file at ``path`` (a state file). Never blocks: a FIFO,
    device or socket raises :class:`NotRegularFile`; more than ``limit`` bytes raise
    ``OSError(EFBIG)`` (a state file that large was not written by lungsegdb)."""
    fd, size = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        if size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        return fh.read(limit + 1)


def hash_file(
    path: str | os.PathLike[str],
    *,
    buf: bytearray | None = None,
    on_bytes: ByteCallback | None = None,
    stop: threading.Event | None = None,
    size_hint: int = -1,
    follow_symlinks: bool = True,
) -> tuple[str, int]:
    """``(sha256 hex digest, size in bytes)`` of the regular file at ``path``.

    ``buf`` is a reusable read buffer (one per thread); ``on_bytes(n)`` is called after each
    read with the number of bytes hashed; ``stop`` set makes it give up between reads
    (raising :class:`InterruptedError`). ``size_hint`` is accepted for compatibility: the
    size ``fstat`` reports serves the same purpose (on a regular file a short read ending
    exactly there is the end, so the extra ``read`` returning 0 is skipped); a file that
    grows while it is read is still read to its end.

    Raises :class:`NotRegularFile` (FIFO, device, socket), :class:`IsADirectoryError`, and
    with ``follow_symlinks=False`` :class:`SymlinkFound`, before reading anything.
    """
    if buf is None:
        buf = bytearray(DEFAULT_BUFSIZE)
    view = memoryview(buf)
    cap = len(view)
    h = hashlib.sha256()
    size = 0
    del size_hint  # fstat knows better
    fd, end = open_regular(path, follow_symlinks=follow_symlinks)
    try:
        if end >= _ADVISE_FROM:
            _advise_sequential(fd)
        while True:
            n = _readinto(fd, view)
            if not n:
                break
            h.update(view[:n])
            size += n
            if on_bytes is not None:
                on_bytes(n)
            if stop is not None and stop.is_set():
                raise InterruptedError("hashing stopped")
            if n < cap and size == end:
                break
    finally:
        os.close(fd)
    return h.hexdigest(), size


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    # a FIFO opens at once instead of waiting for a writer (no effect on regular files)
    | getattr(os, "O_NONBLOCK", 0)
)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: errno of ``open(O_NOFOLLOW)`` on a symlink: ELOOP (Linux, macOS), EMLINK (FreeBSD).
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})
#: Files this large get a sequential-read hint (bigger readahead when not cached).
_ADVISE_FROM = 16 << 20


_READV = getattr(os, "readv", None)


def _readinto(fd: int, view: memoryview) -> int:
    """``read`` into ``view``; ``os.readv`` where it exists (POSIX), else a copy."""
    if _READV is not None:
        return int(_READV(fd, [view]))
    data = os.read(fd, len(view))  # pragma: no cover - Windows
    view[: len(data)] = data  # pragma: no cover
    return len(data)  # pragma: no cover


def _advise_sequential(fd: int) -> None:
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):  # only a hint; some file systems refuse it
            advise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)


# Job and Hashed are named tuples, not dataclasses: ten thousand of each are made per run,
# and a tuple is built in a third of the time of a frozen dataclass (~7 ms less per run,
# half of it before the first file is read).
class Job(NamedTuple, Generic[K]):
    """One file to hash: ``key`` identifies it to the caller, ``size`` orders the work;
    ``follow=False`` refuses a symlink (:class:`SymlinkFound`) instead of reading its target."""

    key: K
    path: str | os.PathLike[str]
    size: int = -1
    follow: bool = True


class Hashed(NamedTuple, Generic[K]):
    """The outcome for one :class:`Job`: a digest and size, or the ``OSError`` it raised."""

    key: K
    path: str | os.PathLike[str]
    digest: str | None
    size: int
    error: OSError | None = None


_DONE = object()
#: Results a worker hands over at once: the consumer wakes (and takes the GIL) per batch, not
#: per file, so it hardly competes with the hashing threads.
_BATCH = 64


class HashRun(Generic[K]):
    """A running :func:`hash_many`: iterate it for the results; close it (or leave its
    ``with`` block) to stop the workers at their next read and join them."""

    def __init__(
        self,
        jobs: Iterable[Job[K]],
        *,
        workers: int | None,
        bufsize: int,
        on_bytes: ByteCallback | None,
    ) -> None:
        self._todo = sorted(jobs, key=lambda j: j.size, reverse=True)
        self._next = 0
        self._lock = threading.Lock()
        self._results: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._pending: collections.deque[Hashed[K]] = collections.deque()
        self._bufsize = bufsize
        self._on_bytes = on_bytes
        n = max(1, workers or default_workers()) if self._todo else 0
        self._threads = [
            threading.Thread(target=self._work, name=f"lungsegdb-hash-{i}", daemon=True)
            for i in range(min(n, len(self._todo)))
        ]
        self._running = len(self._threads)
        for t in self._threads:
            t.start()

    # -- the workers -----------------------------------------------------------------------
    def _take(self) -> Job[K] | None:
        with self._lock:
            i = self._next
            if i >= len(self._todo):
                return None
            self._next = i + 1
            return self._todo[i]

    def _work(self) -> None:
        buf = bytearray(self._bufsize)
        batch: list[Hashed[K]] = []
        stop, on_bytes = self._stop, self._on_bytes
        try:
            while not stop.is_set():
                job = self._take()
                if job is None:
                    break
                try:
                    digest, size = hash_file(
                        job.path, buf=buf, on_bytes=on_bytes, stop=stop, follow_symlinks=job.follow
                    )
                except InterruptedError:
                    break
                except OSError as exc:
                    batch.append(Hashed(job.key, job.path, None, -1, exc))
                else:
                    batch.append(Hashed(job.key, job.path, digest, size))
                if len(batch) >= _BATCH:
                    self._results.put(batch)
                    batch = []
        except BaseException as exc:  # handed to the consumer, re-raised there
            self._results.put(_Crash(exc))
        finally:
            if batch:
                self._results.put(batch)
            self._results.put(_DONE)

    # -- the consumer ----------------------------------------------------------------------
    def __iter__(self) -> HashRun[K]:
        return self

    def __next__(self) -> Hashed[K]:
        while not self._pending:
            if not self._running:
                raise StopIteration
            item = self._results.get()
            if item is _DONE:
                self._running -= 1
            elif isinstance(item, _Crash):
                self.close()
                raise item.exc
            else:
                self._pending.extend(item)  # type: ignore[arg-type]
        return self._pending.popleft()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def __enter__(self) -> HashRun[K]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hash_many(
    jobs: Iterable[Job[K]],
    *,
    workers: int | None = None,
    bufsize: int = DEFAULT_BUFSIZE,
    on_bytes: ByteCallback | None = None,
) -> HashRun[K]:
    """Start hashing every job's file on ``workers`` threads (one per core by default) and
    return the run: iterate it for one :class:`Hashed` per job, in completion order, largest
    files started first. The threads start at once, so the caller can do other work (walk
    the tree) meanwhile. Use it in a ``with`` block, or ``close()`` it: an early exit
    (``break``, an exception, Ctrl-C) then stops the workers at their next read.
    """
    return HashRun(jobs, workers=workers, bufsize=bufsize, on_bytes=on_bytes)


@dataclass(frozen=True)
class _Crash:
    exc: BaseException
