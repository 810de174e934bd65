"""Streaming HTTP download into a ``.part`` file: hashes on the fly, resume, bounded retries.

:func:`fetch` GETs a URL (through :func:`lungsegdb_cli.sources.drive.pages.open_download`, so
Drive's
redirects and virus-scan form are followed and HTML pages are refused) and streams the body
into ``part``. The body is read in blocks of ``RetryPolicy.chunk_size`` bytes (1 MiB) into
buffers the :class:`StreamHasher` lends and reuses
(:class:`lungsegdb_cli.sources.http.body.BodyReader`:
one call per block, not one per ~16 KiB TLS record); every block is written once and hashed
(SHA-256 on this thread; MD5, on a thread of its own, only with ``md5=True``), so the
digests are ready when the last byte lands: the file is never read back. The write-back of
the written blocks starts behind the download
(:class:`lungsegdb_cli.sources.http.writeback.WriteBehind`),
so the commit's flush to disk finds little left to do. Whatever arrived is
written, also when the connection drops part-way or Ctrl-C lands (a block cut short by a
connection reset may be fetched again).

Resume: a ``.part`` left by an earlier run (or by Ctrl-C) is continued with ``Range`` if its
sidecar (``<part>.json``, :class:`lungsegdb_cli.sources.http.resume.ResumeState`) says it came from
the
same source. Only a ``206`` whose ``Content-Range`` starts exactly at our offset is appended;
a ``200`` (the server ignored the range, or ``If-Range`` saw a changed file) restarts the file
cleanly from byte 0. The bytes already in a ``.part`` from an earlier process are hashed once
when resuming (a hash state cannot be saved); bytes of the current run are never re-read.

Retries: connection resets, timeouts, truncated bodies, 408/429/5xx are retried with bounded
exponential backoff, honouring ``Retry-After``; the attempt counter resets whenever bytes
arrived, and a hard cap bounds the total. A host name that does not resolve gets two short
retries only (usually there is no network at all). 404, permission and quota pages fail at
once. Every request has a (connect, read) timeout. ``session``, ``sleep`` and ``clock`` are
injected.

Bounds (:mod:`lungsegdb_cli.sources.http.bounds`): the ``.part`` never grows past the pinned
archive's
size, the announced length or ``LUNGSEGDB_MAX_DOWNLOAD``, and a body that arrives slower than
``LUNGSEGDB_MIN_RATE`` over ``LUNGSEGDB_RATE_WINDOW`` is cut; either stops the transfer (not
retried) and removes the ``.part``.

The download is a :class:`_Transfer` (one object holding the offset, validator, counters and
hasher of one download, with a method per step), the way pip's ``_FileDownload`` is.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, Protocol

from lungsegdb_cli._redact import redact, url_sha256
from lungsegdb_cli.errors import (
    DownloadError,
    DownloadTooLarge,
    DownloadTooSlow,
    from_os_error,
)
from lungsegdb_cli.sources.drive import pages as drive
from lungsegdb_cli.sources.http.bounds import Bounds, Cap, RateGuard
from lungsegdb_cli.sources.http.headers import (
    Headers,
    Peer,
    content_length,
    filename_from,
    if_range_validator,
    invalid_url,
    parse_content_range,
    peer,
    tls_errors,
    tls_failure,
    transient_errors,
    transient_reason,
    unsatisfied_length,
    url_errors,
)
from lungsegdb_cli.sources.http.resume import (
    ResumeState,
    discard_part,
    resumable_offset,
    state_path,
)
from lungsegdb_cli.sources.http.streamhash import Digests, StreamHasher
from lungsegdb_cli.sources.http.writeback import WriteBehind
from lungsegdb_cli.utils.fsutil import atomic_write_text
from lungsegdb_cli.utils.progress import Progress, ensure, note
from lungsegdb_cli.utils.units import counted

__all__ = [
    "HEAD_BYTES",
    "FetchResult",
    "RetryPolicy",
    "discard_part",
    "fetch",
    "filename_from",
    "parse_content_range",
    "resumable_offset",
    "state_path",
]

HEAD_BYTES = 64


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff. ``retries`` consecutive failures without progress.

    ``chunk_size`` is the size of the blocks read from the body, written and hashed."""

    retries: int = 6
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_retry_after: float = 600.0
    max_attempts: int = 60
    timeout: tuple[float, float] = (15.0, 60.0)
    chunk_size: int = 1 << 20

    @classmethod
    def asked(cls, retries: int | None, timeout: float | None) -> RetryPolicy | None:
        """The policy ``--retries``/``--timeout`` ask for (None: neither, the default one);
        the connect timeout is at most ``timeout`` too."""
        if retries is None and timeout is None:
            return None
        base = cls()
        return cls(
            retries=base.retries if retries is None else retries,
            timeout=base.timeout if timeout is None else (min(base.timeout[0], timeout), timeout),
        )

    def delay(self, failures: int, retry_after: float | None) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** max(0, failures - 1)))
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return base


@dataclass
class FetchResult:
    """A complete ``.part`` file and what was learned while streaming it."""

    path: Path
    size: int
    sha256: str
    md5: str | None  # None unless fetch(md5=True)
    url: str
    filename: str | None
    content_type: str | None
    head: bytes
    resumed_from: int = 0
    restarts: int = 0
    attempts: int = 1
    retries: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def _write_state(part: Path, state: ResumeState | Mapping[str, object]) -> None:
    """Write the resume sidecar of ``part`` atomically (a plain mapping is read as a sidecar
    would be)."""
    if not isinstance(state, ResumeState):
        state = ResumeState.from_mapping(state)
    atomic_write_text(state_path(part), state.to_json())


class _Body(Protocol):
    """What :meth:`_Transfer._copy` reads from (a
    :class:`lungsegdb_cli.sources.http.body.BodyReader`;
    ``io.BytesIO`` in a test)."""

    def readinto(self, view: Any) -> int: ...


class _Incomplete(Exception):
    """The body ended before the announced length."""


#: how the ``.part`` file is opened for a body: appended to (a ``206``) or written anew
_Mode = Literal["ab", "wb"]


# ---------------------------------------------------------------------------------------------
# One download as an object
# ---------------------------------------------------------------------------------------------
#: A range answered in part counts as progress, not as an attempt, when it brought this much.
_GOOD_PART = 64 * 1024


class _Transfer:
    """The state of one download of ``url`` into ``part`` and its steps.

    ``offset`` is the number of bytes in ``part`` (all of them hashed by ``hasher``);
    ``validator`` and ``total`` describe the remote file they belong to. ``failures`` counts
    failed attempts since bytes last arrived (the backoff), ``attempts`` every request (the hard
    cap). Use as a context manager: leaving the block stops the MD5 thread (if any).
    """

    def __init__(
        self,
        url: str,
        part: Path,
        *,
        session: Any,  # a requests.Session, as drive.open_download uses it
        source_key: str,
        progress: Progress,
        sleep: Callable[[float], None],
        policy: RetryPolicy,
        before_body: Callable[[int | None, int], None] | None,
        description: str,
        md5: bool = False,
        bounds: Bounds | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.md5 = md5
        self.bounds = bounds if bounds is not None else Bounds()
        self.guard = RateGuard(self.bounds, clock)
        self.cap = self.bounds.cap(None)  # of the body being read (set per answer)
        self.url, self.part, self.session, self.source_key = url, part, session, source_key
        self.progress, self.sleep, self.policy = progress, sleep, policy
        self.before_body, self.description = before_body, description
        self.final_url = url
        self.offset = self.resumed_from = 0
        self.validator: str | None = None
        self.total: int | None = None
        self.filename: str | None = None
        self.content_type: str | None = None
        self.head = b""
        self.attempts = self.failures = self.restarts = 0
        #: answers to a range that brought part of it (a capped range), not counted as attempts
        self.partial_answers = 0
        self.unreached: Peer | None = None  # the host (or proxy) the last attempt could not reach
        self.notes: list[str] = []
        self.started = False  # the progress bar of the body is running
        self.checked_space = False  # before_body ran
        self.transient = transient_errors()
        #: what a body's stream retries on: a transient error or a short body
        self._body_errors: tuple[type[BaseException], ...] = (*self.transient, _Incomplete)
        self.hasher = self._new_hasher()

    def _new_hasher(self) -> StreamHasher:
        return StreamHasher(md5=self.md5, block_size=self.policy.chunk_size)

    def __enter__(self) -> _Transfer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.hasher.close()
        self.guard.close()

    # -- the whole download ------------------------------------------------------------------
    def run(self) -> Digests:
        """Resume or start, then request until ``part`` holds the whole file; its digests.
        A broken bound removes ``part`` (its bytes are not worth resuming)."""
        try:
            self.resume()
            while not self.attempt():
                pass
        except (DownloadTooLarge, DownloadTooSlow):
            self.hasher.close()
            discard_part(self.part)
            raise
        return self.hasher.finish()

    def result(self, digests: Digests, elapsed: float) -> FetchResult:
        return FetchResult(
            path=self.part,
            size=digests.size,
            sha256=digests.sha256,
            md5=digests.md5,
            url=self.final_url,
            filename=self.filename,
            content_type=self.content_type,
            head=self.head,
            resumed_from=self.resumed_from,
            restarts=self.restarts,
            attempts=self.attempts,
            retries=self.notes,
            elapsed=elapsed,
        )

    # -- where the bytes start ---------------------------------------------------------------
    def resume(self) -> None:
        """Continue ``part`` if its sidecar names our source (hashing its bytes once), else
        remove it and its sidecar and start from byte 0."""
        try:
            self.part.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise from_os_error(exc, f"creating {self.part.parent}") from exc
        state = ResumeState.load(self.part)
        offset = resumable_offset(self.part, self.source_key, state, url=self.url)
        if offset == 0:
            discard_part(self.part)
            return
        self.offset = self.resumed_from = offset
        self.validator, self.total, self.filename = state.validator, state.total, state.filename
        with open(self.part, "rb") as fh:
            self.head = fh.read(HEAD_BYTES)
        self.progress.start(f"Checking the partial download ({self.part.name})", offset, "B")
        self.hasher.update_from_file(self.part, offset)
        self.progress.advance(offset)
        self.progress.done()

    def restart(self, reason: str) -> None:
        """Throw the bytes so far away: the next request asks for the whole file."""
        self.hasher.close()
        self.hasher = self._new_hasher()
        self.head = b""
        self.offset = 0
        self.validator = None
        self.total = None
        self.restarts += 1
        self.notes.append(f"restarted from byte 0: {reason}")
        discard_part(self.part)

    # -- one request -------------------------------------------------------------------------
    def attempt(self) -> bool:
        """One request and its body; True once ``part`` holds the whole file."""
        if self.attempts - self.partial_answers >= self.policy.max_attempts:
            last = f" (the last: {self.notes[-1]})" if self.notes else ""
            raise DownloadError(
                f"Download did not complete in {counted(self.attempts, 'attempt')}{last}",
                hint="Run the same command again, or pass a mirror with --url.",
                url=self.final_url,
            )
        self.attempts += 1
        opened = self.open()
        if opened is None:
            return False
        try:
            return self.receive(opened)
        finally:
            opened.close()

    def open(self) -> drive.Opened | None:
        """GET the rest of the file (``Range`` + ``If-Range`` when resuming); ``None`` after a
        transient failure (already waited for)."""
        headers = {"Accept-Encoding": "identity"}
        self.unreached = None  # who this attempt could not reach, if it cannot
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self.validator:
                headers["If-Range"] = self.validator
        try:
            return drive.open_download(
                self.session,
                self.url,
                headers=headers,
                timeout=self.policy.timeout,
                guard=self.guard.bind,
            )
        except drive.RetryableHTTP as exc:
            self._retry(str(exc), exc.retry_after)
        except url_errors() as exc:
            raise invalid_url(self.url, exc) from exc
        except tls_errors() as exc:
            raise tls_failure(self.url, exc) from exc
        except self.transient as exc:
            reason, limit = transient_reason(self.url, exc)
            self.unreached = peer(self.url, exc)
            self._retry(reason, limit=limit)
        return None

    def receive(self, opened: drive.Opened) -> bool:
        """Handle one answer: True once ``part`` holds the whole file."""
        headers: Headers = opened.response.headers
        status = int(opened.response.status_code)
        self.final_url = opened.url
        if status == 416:
            return self._unsatisfiable(headers)
        plan = self._plan(status, headers)
        if plan is None:
            return False
        mode, expected = plan
        self._bound(expected)  # a length over the pinned size: refused before the space check
        self._record(headers, mode)
        start = self.offset
        if not self.stream(opened.body, mode, expected):
            return False
        if mode == "ab" and self.total is not None and self.offset < self.total:
            # a range answered in part (a server that caps a range's length): the rest is
            # asked for next; an answer that brought a good block does not count as an attempt
            if self.offset - start >= _GOOD_PART:
                self.partial_answers += 1
            self.notes.append(f"the server sent bytes up to {self.offset:,} of {self.total:,}")
            return False
        return True

    def _bound(self, expected: int | None) -> Cap:
        """The cap of the body about to be read (``expected`` bytes from ``offset``, if
        announced), set as ``self.cap``; raises :class:`DownloadTooLarge` when the server
        announces more than the pinned archive's size."""
        announced = self.total
        if announced is None and expected is not None:
            announced = self.offset + expected
        self.cap = self.bounds.cap(announced)
        return self.cap

    def _unsatisfiable(self, headers: Headers) -> bool:
        """A ``416``: the ``.part`` is complete if the server's length is our offset, else
        restart."""
        if self.offset and unsatisfied_length(headers) == self.offset:
            return True
        self.restart("the server could not satisfy the range")
        return False

    def _plan(self, status: int, headers: Headers) -> tuple[_Mode, int | None] | None:
        """``(file mode, expected body length)`` of an answer; ``None`` (after a restart) when
        a ``206`` does not continue exactly at our offset."""
        if status == 206:
            cr = parse_content_range(headers.get("Content-Range"))
            got = headers.get("Content-Range")
            if not self.offset:  # a part of the file to a request for all of it: no progress
                self._retry(f"the server answered 206 (Content-Range {got!r}) for the whole file")
                return None
            if cr is None or cr[0] != self.offset:
                self.restart(f"unexpected Content-Range {got!r}")
                return None
            now = self._other_version(headers)
            if now is not None:
                # If-Range ignored: the rest of another version must not be appended
                self.restart(f"the file changed on the server ({now}, was {self.validator})")
                return None
            if self.total is not None and cr[2] is not None and cr[2] != self.total:
                self.restart(f"the file is {cr[2]:,} bytes now, not {self.total:,}")
                return None
            self.total = cr[2] if cr[2] is not None else self.total
            return "ab", cr[1] - cr[0] + 1
        if self.offset:  # the range was ignored (or If-Range saw a new file)
            self.restart(f"the server answered {status} to a range request")
        expected = content_length(headers)
        self.total = expected
        return "wb", expected

    def _other_version(self, headers: Headers) -> str | None:
        """What a ``206`` says of its file that contradicts the ``.part``'s validator: its
        strong ETag when the validator is an ETag, its Last-Modified when it is a date; None
        when it agrees or says nothing comparable (a 200 with an ETag and a 206 with only a
        date, a weak ETag: no evidence of another version)."""
        was = self.validator
        if not was:
            return None
        if was.startswith('"'):
            etag = headers.get("ETag")
            return etag if etag and etag.startswith('"') and etag != was else None
        modified = headers.get("Last-Modified")
        return modified if modified and modified != was else None

    def _record(self, headers: Headers, mode: _Mode) -> None:
        """Learn from the headers, run ``before_body`` once, save the sidecar, show progress."""
        self.validator = if_range_validator(headers) or self.validator
        self.filename = filename_from(headers, self.final_url) or self.filename
        self.content_type = headers.get("Content-Type")
        if not self.checked_space:
            self.checked_space = True
            if self.before_body is not None:
                self.before_body(self.total, self.offset)
        state = ResumeState(
            source=self.source_key,
            validator=self.validator,
            total=self.total,
            filename=self.filename,
            url=self.final_url,  # redacted by ResumeState
            source_sha256=url_sha256(self.url),
        )
        atomic_write_text(state_path(self.part), state.to_json())
        if not self.started or mode == "wb":
            self.started = True
            name = self.filename or self.part.name
            self.progress.start(f"{self.description} {name}", self.total, "B")
            if self.offset:
                self.progress.advance(self.offset)

    # -- the body ----------------------------------------------------------------------------
    def stream(self, body: _Body, mode: _Mode, expected: int | None) -> bool:
        """Append (``ab``) or write (``wb``) the body to ``part``; True if it was complete.
        A dropped or short body is retried; one longer than announced (or than the cap of
        :mod:`lungsegdb_cli.sources.http.bounds`) raises :class:`DownloadTooLarge`."""
        start = self.offset
        self._bound(expected)
        try:
            with open(self.part, mode) as fh:
                self._copy(body, fh, WriteBehind(fh.fileno(), self.offset))
            received = self.offset - start
            if expected is not None and received < expected:
                raise _Incomplete(f"body ended after {received:,} of {expected:,} bytes")
        except self._body_errors as exc:
            if self.offset > start:
                self.failures = 0  # bytes arrived: the backoff starts over
            self._retry(f"{type(exc).__name__}: {exc}")
            return False
        except OSError as exc:
            raise from_os_error(exc, f"writing {self.part}") from exc
        return True

    def _copy(self, body: _Body, fh: BinaryIO, behind: WriteBehind) -> None:
        """Read ``body`` in blocks of ``policy.chunk_size`` bytes into the hasher's pooled
        buffers; write each block once, then hash it. One read, one write and one hash
        update per block, whatever size the network's records are; the write-back of what
        is written starts behind it (``behind``), so the commit's flush has little left.
        A block is written before anything else can fail, so what was read is on disk when
        reading fails part-way or Ctrl-C lands; a block that would take ``part`` past
        ``self.cap`` is not written."""
        hasher = self.hasher
        cap: Cap = self.cap
        while True:
            buf = hasher.buffer()
            try:
                n = body.readinto(memoryview(buf))
                if self.offset + n > cap.limit:
                    raise cap.exceeded()
                if n:
                    fh.write(memoryview(buf)[:n])
                    behind.wrote(n)
            except BaseException:
                hasher.give_back(buf)
                raise
            if not n:
                hasher.give_back(buf)
                return
            if len(self.head) < HEAD_BYTES:
                self.head = (self.head + bytes(buf[: HEAD_BYTES - len(self.head)]))[:HEAD_BYTES]
            self.offset += n
            hasher.submit(buf, n)
            self.progress.advance(n)

    # -- retries -----------------------------------------------------------------------------
    def _retry(
        self, reason: str, retry_after: float | None = None, limit: int | None = None
    ) -> None:
        """Count a failure and sleep before the next attempt (the policy's backoff, or the
        server's ``Retry-After``). Raises :class:`DownloadError` when the server asks for a
        longer wait than the policy allows, or after more than ``limit`` (at most
        ``policy.retries``) failures in a row."""
        reason = redact(reason)
        self.failures += 1
        policy = self.policy
        if retry_after is not None and retry_after > policy.max_retry_after:
            wait = str(retry_after) if isinstance(retry_after, int) else f"{retry_after:.0f}"
            raise DownloadError(
                f"The server asks to retry after {wait} s ({reason})",
                hint="Run the same command again later; the partial download is kept.",
                url=self.final_url,
                retry_after=retry_after,
            )
        if self.failures > (policy.retries if limit is None else min(limit, policy.retries)):
            raise self._exhausted(reason)
        delay = policy.delay(self.failures, retry_after)
        self.notes.append(f"retry in {delay:.1f} s after: {reason}")
        note(self.progress, f"retrying in {delay:.0f} s: {reason}")
        self.sleep(delay)

    def _exhausted(self, reason: str) -> DownloadError:
        if self.offset:
            hint = (
                f"Run the same command again to resume from byte {self.offset:,} "
                f"({self.part.name} is kept), or pass a mirror with --url."
            )
        elif _is_google(self.url):
            hint = (
                "Check the network and run again, pass a mirror with --url, or "
                "download the file in a browser and use --archive PATH."
            )
        elif self.unreached is not None and self.unreached.proxy:
            hint = (
                f"Check the proxy {self.unreached.address} (http_proxy, https_proxy, "
                "ALL_PROXY; NO_PROXY for hosts to reach directly), then run again."
            )
        else:  # a mirror was passed: advice about that mirror, not "pass a mirror"
            host = urllib.parse.urlsplit(self.url).netloc.rpartition("@")[2] or self.url
            mirror = peer(self.url, DownloadError(host))  # the URL's own host and port
            there = self.unreached
            if there is not None and there.address != mirror.address:  # a redirect's target
                first = f"The mirror {host} redirected to {there.address}: check that it is up"
            else:
                first = f"Check that the mirror {host} is up"
            hint = (
                f"{first} and the URL right, then run again; "
                "another --url (or Google Drive, without --no-drive) can serve the file, "
                "or use a copy with --archive PATH."
            )
        return DownloadError(
            f"Download failed after {counted(self.attempts, 'attempt')}: {reason}",
            hint=hint,
            url=self.final_url,
            offset=self.offset,
            part=str(self.part),
        )


def _is_google(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return host.endswith(("google.com", "googleusercontent.com", "googleapis.com"))


# ---------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------
def fetch(
    url: str,
    part: Path,
    *,
    session: Any,
    source_key: str,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    policy: RetryPolicy | None = None,
    before_body: Callable[[int | None, int], None] | None = None,
    description: str = "Downloading",
    md5: bool = False,
    bounds: Bounds | None = None,
) -> FetchResult:
    """Download ``url`` into ``part`` (resuming it if it holds bytes of ``source_key``).

    ``before_body(total, offset)`` runs once, after the first response's headers and before
    any byte is written (the caller's free-space check); raising there aborts cleanly.
    ``md5=True`` also computes the MD5 (``FetchResult.md5``; None otherwise).
    ``bounds``: the size cap and minimum rate (None: from the environment).
    Raises :class:`lungsegdb_cli.sources.drive.pages.Refused` for a page instead of the file,
    :class:`DownloadTooLarge` / :class:`DownloadTooSlow` for a broken bound (``part``
    removed) and :class:`DownloadError` when retries are exhausted.
    """
    progress = ensure(progress)
    t0 = clock()
    with _Transfer(
        url,
        part,
        session=session,
        source_key=source_key,
        progress=progress,
        sleep=sleep,
        policy=policy or RetryPolicy(),
        before_body=before_body,
        description=description,
        md5=md5,
        bounds=bounds if bounds is not None else Bounds.from_env(),
        clock=clock,
    ) as transfer:
        digests = transfer.run()
    progress.done()
    return transfer.result(digests, elapsed=clock() - t0)
