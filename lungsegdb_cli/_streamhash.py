"""SHA-256 and MD5 of a byte stream, computed while it streams, on two threads.

The download writes each chunk to disk once and hands it to a :class:`StreamHasher`; the two
digests are ready the moment the last chunk arrives, so the archive is never read back.
``hashlib`` releases the GIL for buffers over 2 KiB, so the SHA-256 and MD5 threads run in
parallel with each other and with the socket reads and file writes of the caller's thread.
MD5 (~650 MB/s per core) is the slowest of these; a bounded queue applies back-pressure so
memory stays flat (at most ``depth`` chunks in flight).

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

#: Chunks queued per hash thread before the producer waits.
DEFAULT_DEPTH = 32

_STOP = None


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str
    size: int


class StreamHasher:
    """Feed chunks with :meth:`update`; :meth:`finish` returns the :class:`Digests`.

    Use as a context manager: leaving the block (normally or by an exception, Ctrl-C
    included) stops and joins the threads. ``threaded=False`` hashes inline (tiny inputs).
    """

    def __init__(self, *, depth: int = DEFAULT_DEPTH, threaded: bool = True) -> None:
        self._hashes = (hashlib.sha256(), hashlib.md5())
        self._size = 0
        self._threaded = threaded
        self._queues: list[queue.Queue[bytes | memoryview | None]] = []
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._closed = False
        if threaded:
            for i, h in enumerate(self._hashes):
                q: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=depth)
                t = threading.Thread(
                    target=self._work, args=(h, q), name=f"lungsegdb-streamhash-{i}", daemon=True
                )
                self._queues.append(q)
                self._threads.append(t)
                t.start()

    def _work(self, h: hashlib._Hash, q: queue.Queue[bytes | memoryview | None]) -> None:
        try:
            while True:
                chunk = q.get()
                if chunk is _STOP:
                    return
                h.update(chunk)
        except BaseException as exc:
            self._errors.append(exc)
            # keep draining so the producer never blocks on a full queue
            while q.get() is not _STOP:
                pass

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

    def update_from_file(self, path: Path, limit: int, bufsize: int = 1 << 20) -> int:
        """Hash the first ``limit`` bytes of ``path`` (a partial download being resumed)."""
        done = 0
        with _open(path) as fh:
            while done < limit:
                chunk = fh.read(min(bufsize, limit - done))
                if not chunk:
                    break
                self.update(chunk)
                done += len(chunk)
        return done

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
        sha, md5 = self._hashes
        return Digests(sha256=sha.hexdigest(), md5=md5.hexdigest(), size=self._size)

    def __enter__(self) -> StreamHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> BinaryIO:
    """``path`` opened for binary reading if it is a regular file (never blocks on a FIFO)."""
    fd, _size = open_regular(path)
    return os.fdopen(fd, "rb")


def digest_file(
    path: Path, *, on_bytes: Callable[[int], None] | None = None, bufsize: int = 1 << 20
) -> Digests:
    """SHA-256 + MD5 of a file in one read. ``on_bytes(n)`` is called per chunk."""
    with StreamHasher() as h, _open(path) as fh:
        while True:
            chunk = fh.read(bufsize)
            if not chunk:
                break
            h.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
        return h.finish()
