"""SHA-256 (and, when asked, MD5) of a byte stream, computed while it streams.

The download reads each block of the body into a buffer lent by the :class:`StreamHasher`
(:meth:`StreamHasher.buffer`), writes it to disk once and hands it back
(:meth:`StreamHasher.submit`); the digests are ready the moment the last block arrives, so the
archive is never read back. The buffers (a few of 1 MiB) are reused: no allocation, no copy.

SHA-256 is computed on the caller's thread, right after the block is written, while the
block is still in this core's cache: with SHA-NI it runs at ~1.7 GB/s, faster than any
network. A hash thread saved nothing on 2 cores (a 948 MB download over loopback HTTPS, best
of 18 rounds: 1.78 s inline, 1.76 s threaded) and cost time on a cached file (0.62 s inline,
0.80 s threaded: each block had to travel to the other core); see docs/performance.md.
MD5 (``md5=True``, ~650 MB/s, the slowest of these) does get a thread of its own, so the two
digests run side by side; ``threaded=False`` computes it inline too.
A buffer goes back to the pool once MD5 has seen it, so memory stays flat (at most
``buffers`` blocks in flight).

Files are read only if they are regular files (:func:`lungsegdb_cli.utils.hashing.open_regular`):
a FIFO, device or socket in the archive's place raises
:class:`~lungsegdb_cli.utils.hashing.NotRegularFile` at once instead of hanging or reading forever.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lungsegdb_cli.utils.hashing import open_regular

#: Items queued for the MD5 thread before the producer waits.
DEFAULT_DEPTH = 32
#: Size of the pooled buffers :meth:`StreamHasher.buffer` lends.
BLOCK_SIZE = 1 << 20
#: Buffers in the pool: enough for the MD5 thread to lag a few blocks behind the reads.
DEFAULT_BUFFERS = 4

_STOP = None
#: What the MD5 thread is handed: bytes to hash, or a pooled buffer and how much of it.
_Item = bytes | memoryview | tuple[bytearray, int] | None


@dataclass(frozen=True)
class Digests:
    """The digests of a stream; ``md5`` is None when it was not asked for."""

    sha256: str
    md5: str | None
    size: int


class StreamHasher:
    """Feed blocks with :meth:`buffer`/:meth:`submit` (or bytes with :meth:`update`);
    :meth:`finish` returns the :class:`Digests`.

    SHA-256 is computed on the caller's thread. ``md5=True`` also computes MD5, on a thread
    of its own (``threaded=False``: inline as well). Use as a context manager: leaving the
    block (normally or by an exception, Ctrl-C included) stops and joins that thread.
    """

    def __init__(
        self,
        *,
        md5: bool = False,
        depth: int = DEFAULT_DEPTH,
        threaded: bool = True,
        block_size: int = BLOCK_SIZE,
        buffers: int = DEFAULT_BUFFERS,
    ) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5() if md5 else None
        self._size = 0
        self._queue: queue.Queue[_Item] | None = None
        self._thread: threading.Thread | None = None
        self._errors: list[BaseException] = []
        self._closed = False
        self.block_size = block_size
        self._max_buffers = max(1, buffers)
        self._made = 0
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        if self._md5 is not None and threaded:
            self._queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(
                target=self._work,
                args=(self._md5, self._queue),
                name="lungsegdb-md5",
                daemon=True,
            )
            self._thread.start()

    # -- the MD5 thread ----------------------------------------------------------------------
    def _work(self, h: hashlib._Hash, q: queue.Queue[_Item]) -> None:
        try:
            while True:
                item = q.get()
                if item is _STOP:
                    return
                if isinstance(item, tuple):
                    buf, n = item
                    h.update(memoryview(buf)[:n])
                    self._free.put(buf)
                else:
                    h.update(item)
        except BaseException as exc:
            self._errors.append(exc)
            # keep draining (and lending buffers back) so the producer never blocks
            while (item := q.get()) is not _STOP:
                if isinstance(item, tuple):
                    self._free.put(item[0])

    # -- feeding -----------------------------------------------------------------------------
    def buffer(self) -> bytearray:
        """A pooled buffer of ``block_size`` bytes to read the next block into; hand it back
        with :meth:`submit` (hash it) or :meth:`give_back` (unused). Waits while every buffer
        is still being hashed."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        if self._made < self._max_buffers:
            self._made += 1
            return bytearray(self.block_size)
        return self._free.get()

    def give_back(self, buf: bytearray) -> None:
        """Return a buffer from :meth:`buffer` without hashing it."""
        self._free.put(buf)

    def submit(self, buf: bytearray, n: int) -> None:
        """Hash ``buf[:n]`` (a buffer from :meth:`buffer`, not touched again until the pool
        lends it out anew)."""
        if n <= 0:
            self.give_back(buf)
            return
        self._size += n
        view = memoryview(buf)[:n]
        self._sha256.update(view)
        if self._queue is not None:
            self._queue.put((buf, n))
            return
        if self._md5 is not None:
            self._md5.update(view)
        self._free.put(buf)

    def update(self, chunk: bytes | memoryview) -> None:
        """Hash ``chunk`` (which must not be mutated afterwards: pass ``bytes``)."""
        if not chunk:
            return
        self._size += len(chunk)
        self._sha256.update(chunk)
        if self._queue is not None:
            self._queue.put(chunk)
        elif self._md5 is not None:
            self._md5.update(chunk)

    def update_from_file(self, path: Path, limit: int) -> int:
        """Hash the first ``limit`` bytes of ``path`` (a partial download being resumed)."""
        done = 0
        with _open(path) as fh:
            while done < limit:
                buf = self.buffer()
                view = memoryview(buf)[: min(len(buf), limit - done)]
                n = fh.readinto(view)
                if not n:
                    self.give_back(buf)
                    break
                self.submit(buf, n)
                done += n
        return done

    # -- the end -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._queue is not None and self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()

    def finish(self) -> Digests:
        self.close()
        if self._errors:
            raise self._errors[0]
        md5 = self._md5.hexdigest() if self._md5 is not None else None
        return Digests(sha256=self._sha256.hexdigest(), md5=md5, size=self._size)

    def __enter__(self) -> StreamHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> io.BufferedReader:
    """``path`` opened for binary reading if it is a regular file (never blocks on a FIFO)."""
    fd, _size = open_regular(path)
    return os.fdopen(fd, "rb")


def digest_file(
    path: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
    bufsize: int = BLOCK_SIZE,
    md5: bool = False,
) -> Digests:
    """SHA-256 (and with ``md5``, MD5) of a file in one read. ``on_bytes(n)`` is called per
    block."""
    with StreamHasher(md5=md5, block_size=bufsize) as h, _open(path) as fh:
        while True:
            buf = h.buffer()
            n = fh.readinto(buf)
            if not n:
                h.give_back(buf)
                break
            h.submit(buf, n)
            if on_bytes is not None:
                on_bytes(n)
        return h.finish()
