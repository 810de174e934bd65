"""SHA-256 (and, when asked, MD5) of a byte stream, computed while it streams.

The download reads each block of the body into a buffer lent by the :class:`StreamHasher`
(:meth:`StreamHasher.buffer`), writes it to disk once and hands it back
(:meth:`StreamHasher.submit`); the digests are ready the moment the last block arrives, so the
archive is never read back. The buffers (a few of 1 MiB) are reused: no allocation, no copy,
one hand-off per block and hash.

One digest (SHA-256 only, the default) is computed on one hash thread, in parallel with the
socket reads and file writes of the caller's thread (``hashlib`` releases the GIL for buffers
over 2 KiB); MD5 (``md5=True``, ~650 MB/s per core, the slowest of these) gets a thread of its
own. ``threaded=False`` hashes on the caller's thread. A buffer goes back to the pool once
every hash has seen it, so memory stays flat (at most ``buffers`` blocks in flight).

Files are read only if they are regular files (:func:`lungsegdb_cli._hashing.open_regular`):
a FIFO, device or socket in the archive's place raises
:class:`~lungsegdb_cli._hashing.NotRegularFile` at once instead of hanging or reading forever.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lungsegdb_cli._hashing import open_regular

#: Items queued per hash thread before the producer waits.
DEFAULT_DEPTH = 32
#: Size of the pooled buffers :meth:`StreamHasher.buffer` lends.
BLOCK_SIZE = 1 << 20
#: Buffers in the pool: enough for the hash threads to lag a few blocks behind the reads.
DEFAULT_BUFFERS = 4

_STOP = None
#: What a hash thread is handed: bytes to hash, or a pooled buffer and how much of it.
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

    Use as a context manager: leaving the block (normally or by an exception, Ctrl-C
    included) stops and joins the threads. ``md5=True`` also computes MD5 (on its own
    thread). ``threaded=False`` hashes inline.
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
        self._hashes = (hashlib.sha256(), hashlib.md5()) if md5 else (hashlib.sha256(),)
        self._size = 0
        self._threaded = threaded
        self._queues: list[queue.Queue[_Item]] = []
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._closed = False
        self.block_size = block_size
        self._max_buffers = max(1, buffers)
        self._made = 0
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._refs: dict[int, int] = {}
        self._lock = threading.Lock()
        if threaded:
            for i, h in enumerate(self._hashes):
                q: queue.Queue[_Item] = queue.Queue(maxsize=depth)
                t = threading.Thread(
                    target=self._work, args=(h, q), name=f"lungsegdb-streamhash-{i}", daemon=True
                )
                self._queues.append(q)
                self._threads.append(t)
                t.start()

    # -- the hash threads --------------------------------------------------------------------
    def _work(self, h: hashlib._Hash, q: queue.Queue[_Item]) -> None:
        try:
            while True:
                item = q.get()
                if item is _STOP:
                    return
                if isinstance(item, tuple):
                    buf, n = item
                    h.update(memoryview(buf)[:n])
                    self._release(buf)
                else:
                    h.update(item)
        except BaseException as exc:
            self._errors.append(exc)
            # keep draining (and lending buffers back) so the producer never blocks
            while (item := q.get()) is not _STOP:
                if isinstance(item, tuple):
                    self._release(item[0])

    def _release(self, buf: bytearray) -> None:
        with self._lock:
            left = self._refs[id(buf)] - 1
            if left:
                self._refs[id(buf)] = left
                return
            del self._refs[id(buf)]
        self._free.put(buf)

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
        if not self._threaded:
            view = memoryview(buf)[:n]
            for h in self._hashes:
                h.update(view)
            self._free.put(buf)
            return
        with self._lock:
            self._refs[id(buf)] = len(self._queues)
        for q in self._queues:
            q.put((buf, n))

    def update(self, chunk: bytes | memoryview) -> None:
        """Hash ``chunk`` (which must not be mutated afterwards: pass ``bytes``)."""
        if not chunk:
            return
        self._size += len(chunk)
        if self._threaded:
            for q in self._queues:
                q.put(chunk)
        else:
            for h in self._hashes:
                h.update(chunk)

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
        for q in self._queues:
            q.put(_STOP)
        for t in self._threads:
            t.join()

    def finish(self) -> Digests:
        self.close()
        if self._errors:
            raise self._errors[0]
        sha = self._hashes[0].hexdigest()
        md5 = self._hashes[1].hexdigest() if len(self._hashes) > 1 else None
        return Digests(sha256=sha, md5=md5, size=self._size)

    def __enter__(self) -> StreamHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> BinaryIO:
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
