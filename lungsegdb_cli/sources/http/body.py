"""Reading a response body in large blocks, into the caller's (reused) buffer.

Over HTTPS a socket read returns one TLS record (~16 KiB): read that way, a 1.4 GB archive
costs 84,000 reads, 84,000 allocations and as many writes and hand-offs to the hash threads.
:meth:`BodyReader.readinto` instead fills a whole caller buffer (1 MiB by default) per call,
with no allocation and no copy: for an identity-encoded body it reads straight from the
``http.client`` response under ``requests``/``urllib3`` (whose buffered reader loops over the
records in C), else through ``urllib3``'s ``readinto``, else ``iter_content`` (a test's fake).

A block is returned as soon as it is full or the body ends; when the connection drops in the
middle of a block, the bytes of that block may be lost (at most one block is fetched again on
resume). A clean end before the announced ``Content-Length`` returns the bytes that arrived,
then raises ``ChunkedEncodingError`` (``IncompleteRead``). Errors are mapped onto the
``requests`` exceptions ``iter_content`` raises, so the caller's retry logic sees the same
exceptions on every path.

With a ``guard`` (:class:`ReadGuard`; the download's is
:class:`lungsegdb_cli.sources.http.bounds.RateGuard`), every read that reaches the network is
timed by it: the reader asks it how many bytes the read may ask for before, and tells it how
the read went after (it raises for a read that was too slow); the read itself is the
reader's own code, never run from inside the guard.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from typing import Any, Protocol

__all__ = ["PEEK_BYTES", "BodyReader", "ReadGuard"]

#: Bytes read up front to tell an HTML page from the file (magic bytes).
PEEK_BYTES = 64 << 10


def _identity(headers: Any) -> bool:
    enc = str(headers.get("Content-Encoding", "") or "").strip().lower()
    return enc in ("", "identity")


class ReadGuard(Protocol):
    """Times each read the reader makes: :meth:`begin` before it (the most bytes it may ask
    for), :meth:`end` after it, with what it raised if it did (raising when the read broke
    the guard's rule)."""

    def begin(self, size: int) -> int: ...

    def end(self, error: BaseException | None = None) -> None: ...


class BodyReader:
    """The body of a ``requests`` response (opened with ``stream=True``), read in blocks."""

    def __init__(self, resp: Any, guard: ReadGuard | None = None) -> None:
        self._resp = resp
        self._guard = guard
        self._pending = memoryview(b"")
        self._chunks: Iterator[bytes] | None = None
        raw = getattr(resp, "raw", None)
        fp = getattr(raw, "_fp", None)
        if not (isinstance(fp, http.client.HTTPResponse) and _identity(resp.headers)):
            fp = None
        self._direct = fp is not None
        self._fp = fp
        self._raw_readinto: Callable[[memoryview], int] | None = (
            fp.readinto if fp is not None else getattr(raw, "readinto", None)
        )
        self.reads = 0  # calls that reached the network (for tests and profiles)

    # -- public ------------------------------------------------------------------------------
    def peek(self, n: int = PEEK_BYTES) -> bytes:
        """Up to ``n`` bytes from the start of what is left (fewer only at the end); they are
        returned again by the next reads."""
        buf = bytearray(n)
        got = self.readinto(memoryview(buf))
        head = bytes(buf[:got])
        self._pending = memoryview(head + bytes(self._pending))
        return head

    def read_limited(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (an HTML page being classified)."""
        buf = bytearray(limit)
        view = memoryview(buf)
        got = 0
        while got < limit:
            n = self.readinto(view[got:])
            if not n:
                break
            got += n
        return bytes(buf[:got])

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` with the next bytes; fewer only at the end of the body (0: the end)."""
        got = 0
        if self._pending:
            got = min(len(self._pending), len(view))
            view[:got] = self._pending[:got]
            self._pending = self._pending[got:]
        while got < len(view):
            n = self._read_some(view[got:])
            if not n:
                break
            got += n
        if not got:
            self._check_complete()
        return got

    # -- the three ways in -------------------------------------------------------------------
    def _read_some(self, view: memoryview) -> int:
        self.reads += 1
        guard = self._guard
        if guard is None:
            return self._read_raw(view)
        view = view[: guard.begin(len(view))]
        try:
            n = self._read_raw(view)
        except BaseException as exc:
            guard.end(exc)  # raises instead when the read was too slow
            raise
        guard.end()
        return n

    def _read_raw(self, view: memoryview) -> int:
        if self._raw_readinto is None:
            return self._from_chunks(view)
        if self._direct:
            return self._direct_read(view)
        return self._urllib3_read(view)

    def _direct_read(self, view: memoryview) -> int:
        import ssl

        import requests

        assert self._raw_readinto is not None
        try:
            return int(self._raw_readinto(view))
        except http.client.HTTPException as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except ssl.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        except OSError as exc:  # reset, timeout: what urllib3 would raise as ProtocolError
            raise requests.exceptions.ConnectionError(exc) from exc

    def _urllib3_read(self, view: memoryview) -> int:
        import requests
        from urllib3 import exceptions as u3

        assert self._raw_readinto is not None
        try:
            return int(self._raw_readinto(view))
        except u3.ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except u3.ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        except u3.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except u3.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc

    def _from_chunks(self, view: memoryview) -> int:
        if self._chunks is None:
            self._chunks = iter(self._resp.iter_content(chunk_size=len(view)))
        chunk = next(self._chunks, b"")
        if len(chunk) > len(view):  # keep the rest for the next read
            self._pending = memoryview(bytes(chunk[len(view) :]))
            chunk = chunk[: len(view)]
        view[: len(chunk)] = chunk
        return len(chunk)

    def _check_complete(self) -> None:
        """At the end of a direct read: a body shorter than its ``Content-Length`` raises
        the ``IncompleteRead`` urllib3 would have raised."""
        fp = self._fp
        remaining = getattr(fp, "length", None) if fp is not None else None
        if isinstance(remaining, int) and remaining > 0:
            import requests

            exc = http.client.IncompleteRead(b"", remaining)
            raise requests.exceptions.ChunkedEncodingError(
                f"IncompleteRead: the body ended {remaining:,} bytes early"
            ) from exc
