"""Streaming HTTP download into a ``.part`` file: hashes on the fly, resume, bounded retries.

:func:`fetch` GETs a URL (through :func:`lungsegdb_cli.drive.open_download`, so Drive's
redirects and virus-scan form are followed and HTML pages are refused) and streams the body
into ``part``. Every chunk is written once and fed to a :class:`StreamHasher` (SHA-256 + MD5 on
two threads), so the digests are ready when the last byte lands: the file is never read back.

Resume: a ``.part`` left by an earlier run (or by Ctrl-C) is continued with ``Range`` if its
sidecar (``<part>.json``) says it came from the same source. Only a ``206`` whose
``Content-Range`` starts exactly at our offset is appended; a ``200`` (the server ignored the
range, or ``If-Range`` saw a changed file) restarts the file cleanly from byte 0. The bytes
already in a ``.part`` from an earlier process are hashed once when resuming (a hash state
cannot be saved); bytes of the current run are never re-read.

Retries: connection resets, timeouts, truncated bodies, 408/429/5xx are retried with bounded
exponential backoff, honouring ``Retry-After``; the attempt counter resets whenever bytes
arrived, and a hard cap bounds the total. 404, permission and quota pages fail at once.
Every request has a (connect, read) timeout. ``session``, ``sleep`` and ``clock`` are injected.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli import drive
from lungsegdb_cli.errors import DownloadError, UsageError, from_os_error
from lungsegdb_cli.progress import Progress, ensure, note
from lungsegdb_cli.streamhash import StreamHasher

HEAD_BYTES = 64


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff. ``retries`` consecutive failures without progress."""

    retries: int = 6
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_retry_after: float = 600.0
    max_attempts: int = 60
    timeout: tuple[float, float] = (15.0, 60.0)
    chunk_size: int = 1 << 20

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
    md5: str
    url: str
    filename: str | None
    content_type: str | None
    head: bytes
    resumed_from: int = 0
    restarts: int = 0
    attempts: int = 1
    retries: list[str] = field(default_factory=list)
    elapsed: float = 0.0


# ---------------------------------------------------------------------------------------------
# The sidecar that makes a .part resumable
# ---------------------------------------------------------------------------------------------
def state_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


_STATE_TYPES: dict[str, tuple[type, ...]] = {
    "source": (str,),
    "validator": (str,),
    "total": (int,),
    "filename": (str,),
}


def _read_state(part: Path) -> dict[str, Any]:
    """The resume sidecar; ``{}`` (start afresh) if it is absent, not a regular file, not
    JSON, or holds a field of the wrong type."""
    from lungsegdb_cli.hashing import read_regular

    try:
        data = json.loads(read_regular(state_path(part), limit=1 << 20))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    for key, types in _STATE_TYPES.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            return {}
    return data


def _write_state(part: Path, state: dict[str, Any]) -> None:
    from lungsegdb_cli.fsutil import atomic_write_text

    atomic_write_text(state_path(part), json.dumps(state, sort_keys=True))


def discard_part(part: Path) -> None:
    part.unlink(missing_ok=True)
    state_path(part).unlink(missing_ok=True)


def resumable_offset(part: Path, source_key: str) -> int:
    """Bytes of ``part`` that may be resumed for ``source_key`` (0 if none or another source)."""
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return 0
    return size if _read_state(part).get("source") == source_key else 0


# ---------------------------------------------------------------------------------------------
# Response headers
# ---------------------------------------------------------------------------------------------
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)
_UNSATISFIED = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.I)


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``(first, last, total)`` of ``bytes first-last/total`` (total None for ``*``)."""
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


def _identity(headers: Any) -> bool:
    for name in ("Content-Encoding", "Transfer-Encoding"):
        for enc in headers.get(name, "").split(","):
            if enc.strip().lower() not in ("", "identity"):
                return False
    return True


def _content_length(headers: Any) -> int | None:
    if not _identity(headers):
        return None
    try:
        n = int(headers.get("Content-Length", ""))
    except ValueError:
        return None
    return n if n >= 0 else None


_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]")


def filename_from(headers: Any, url: str) -> str | None:
    """The file name the server suggests (Content-Disposition), else the URL's last segment."""
    cd = headers.get("Content-Disposition", "")
    name = None
    m = re.search(r"filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)", cd)
    if m:
        name = urllib.parse.unquote(m.group(1).strip().strip('"'))
    else:
        m = re.search(r'filename\s*=\s*"([^"]*)"', cd) or re.search(r"filename\s*=\s*([^;]+)", cd)
        if m:
            name = m.group(1).strip()
    if not name:
        last = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        name = last if "." in last else None
    if not name:
        return None
    name = _UNSAFE.sub("_", name).strip(" .")
    return name or None


def _validator(headers: Any) -> str | None:
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return str(etag)
    lm = headers.get("Last-Modified")
    return str(lm) if lm else None


def _transient_errors() -> tuple[type[BaseException], ...]:
    import requests

    return (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
        TimeoutError,
    )


def _url_errors() -> tuple[type[BaseException], ...]:
    """What ``requests``/``urllib3`` raise for a URL that cannot be fetched: malformed (all
    ``ValueError``s; a bare one comes from parsing a redirect's Location) or redirecting
    without end."""
    import requests

    return (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
        requests.exceptions.TooManyRedirects,
        ValueError,
    )


def _invalid_url(url: str, exc: BaseException) -> Exception:
    """A URL that cannot be requested: a usage error (exit 2) naming it when the URL we were
    given is malformed, else the server sent it (a redirect or a form): the download failed
    (exit 3)."""
    import requests

    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return DownloadError(
            f"Too many redirects while downloading {url}",
            hint="Open the URL in a browser to see where it leads, or pass a mirror with --url.",
            url=url,
        )
    try:
        drive.check_url(url)
    except UsageError as bad:
        return bad
    return DownloadError(
        f"The server sent a URL that cannot be requested ({exc}) while downloading {url}",
        hint="Try again later, pass a mirror with --url, or download the file in a browser "
        "and use --archive PATH.",
        url=url,
    )


def _unresolvable(exc: BaseException) -> bool:
    """True when the host name did not resolve (no network, no DNS, a typo in --url)."""
    text = repr(exc)
    return any(
        needle in text
        for needle in (
            "NameResolutionError",
            "Name or service not known",
            "Temporary failure in name resolution",
            "nodename nor servname",
            "getaddrinfo failed",
        )
    )


class _Incomplete(Exception):
    """The body ended before the announced length."""


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
) -> FetchResult:
    """Download ``url`` into ``part`` (resuming it if it holds bytes of ``source_key``).

    ``before_body(total, offset)`` runs once, after the first response's headers and before
    any byte is written (the caller's free-space check); raising there aborts cleanly.
    Raises :class:`lungsegdb_cli.drive.Refused` for a page instead of the file and
    :class:`DownloadError` when retries are exhausted.
    """
    policy = policy or RetryPolicy()
    progress = ensure(progress)
    t0 = clock()
    transient = _transient_errors()
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, f"creating {part.parent}") from exc

    state = _read_state(part)
    offset = resumable_offset(part, source_key)
    if offset == 0:
        discard_part(part)
        state = {}
    resumed_from = offset
    validator: str | None = state.get("validator") if offset else None
    total: int | None = state.get("total") if offset else None

    hasher = StreamHasher()
    head = b""
    if offset:
        with open(part, "rb") as fh:
            head = fh.read(HEAD_BYTES)
        progress.start(f"Checking the partial download ({part.name})", offset, unit="B")
        hasher.update_from_file(part, offset)
        progress.done()

    failures = 0
    attempts = 0
    restarts = 0
    notes: list[str] = []
    started = False
    checked_space = False
    final_url = url
    filename: str | None = state.get("filename") if offset else None
    content_type: str | None = None

    def restart(reason: str) -> None:
        nonlocal offset, hasher, head, validator, total, restarts
        hasher.close()
        hasher = StreamHasher()
        head = b""
        offset = 0
        validator = None
        total = None
        restarts += 1
        notes.append(f"restarted from byte 0: {reason}")
        discard_part(part)

    def wait(reason: str, retry_after: float | None = None, limit: int | None = None) -> None:
        nonlocal failures
        failures += 1
        retries = policy.retries if limit is None else min(limit, policy.retries)
        if retry_after is not None and retry_after > policy.max_retry_after:
            raise DownloadError(
                f"The server asks to retry after {retry_after:.0f} s ({reason})",
                hint="Run the same command again later; the partial download is kept.",
                url=final_url,
                retry_after=retry_after,
            )
        if failures > retries:
            raise DownloadError(
                f"Download failed after {attempts} attempt(s): {reason}",
                hint=(
                    f"Run the same command again to resume from byte {offset:,} "
                    f"({part.name} is kept), or pass a mirror with --url."
                    if offset
                    else "Check the network and run again, pass a mirror with --url, or "
                    "download the file in a browser and use --archive PATH."
                ),
                url=final_url,
                offset=offset,
                part=str(part),
            )
        delay = policy.delay(failures, retry_after)
        notes.append(f"retry in {delay:.1f} s after: {reason}")
        note(progress, f"retrying in {delay:.0f} s: {reason}")
        sleep(delay)

    try:
        while True:
            if attempts >= policy.max_attempts:
                raise DownloadError(
                    f"Download did not complete in {attempts} attempts",
                    hint="Run the same command again, or pass a mirror with --url.",
                    url=final_url,
                )
            attempts += 1
            headers = {"Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
                if validator:
                    headers["If-Range"] = validator
            try:
                opened = drive.open_download(
                    session,
                    url,
                    headers=headers,
                    timeout=policy.timeout,
                    chunk_size=policy.chunk_size,
                )
            except drive.RetryableHTTP as exc:
                wait(str(exc), exc.retry_after)
                continue
            except _url_errors() as exc:
                raise _invalid_url(url, exc) from exc
            except transient as exc:
                if _unresolvable(exc):
                    # no DNS answer: usually no network at all, so do not wait a minute
                    host = urllib.parse.urlsplit(url).hostname or url
                    wait(f"cannot resolve {host} (no network or DNS?)", limit=2)
                else:
                    wait(f"{type(exc).__name__}: {exc}")
                continue

            resp = opened.response
            try:
                status = int(resp.status_code)
                final_url = opened.url
                if status == 416:
                    m = _UNSATISFIED.match(resp.headers.get("Content-Range", ""))
                    if offset and m and int(m.group(1)) == offset:
                        break  # the .part already holds the whole file
                    restart("the server could not satisfy the range")
                    continue
                mode = "ab"
                if status == 206:
                    cr = parse_content_range(resp.headers.get("Content-Range"))
                    if not offset or cr is None or cr[0] != offset:
                        restart(f"unexpected Content-Range {resp.headers.get('Content-Range')!r}")
                        continue
                    total = cr[2] if cr[2] is not None else total
                    expected = cr[1] - cr[0] + 1
                else:
                    if offset:  # the range was ignored (or If-Range saw a new file)
                        restart(f"the server answered {status} to a range request")
                    mode = "wb"
                    expected = _content_length(resp.headers)
                    total = expected
                validator = _validator(resp.headers) or validator
                filename = filename_from(resp.headers, final_url) or filename
                content_type = resp.headers.get("Content-Type")
                if not checked_space:
                    checked_space = True
                    if before_body is not None:
                        before_body(total, offset)
                _write_state(
                    part,
                    {
                        "source": source_key,
                        "validator": validator,
                        "total": total,
                        "filename": filename,
                        "url": final_url,
                    },
                )
                if not started or mode == "wb":
                    started = True
                    progress.start(f"{description} {filename or part.name}", total, unit="B")
                    if offset:
                        progress.advance(offset)
                received = 0
                try:
                    with open(part, mode) as fh:
                        for chunk in opened.chunks:
                            if not chunk:
                                continue
                            fh.write(chunk)
                            hasher.update(chunk)
                            if len(head) < HEAD_BYTES:
                                head = (head + chunk[: HEAD_BYTES - len(head)])[:HEAD_BYTES]
                            offset += len(chunk)
                            received += len(chunk)
                            progress.advance(len(chunk))
                        if expected is not None and received < expected:
                            raise _Incomplete(
                                f"body ended after {received:,} of {expected:,} bytes"
                            )
                except (*transient, _Incomplete) as exc:
                    if received:
                        failures = 0
                    wait(f"{type(exc).__name__}: {exc}")
                    continue
                except OSError as exc:
                    raise from_os_error(exc, f"writing {part}") from exc
                if expected is not None and received > expected:
                    restart(f"the server sent {received:,} bytes, more than announced")
                    continue
                break
            finally:
                opened.close()
        digests = hasher.finish()
    finally:
        hasher.close()
    progress.done()
    return FetchResult(
        path=part,
        size=digests.size,
        sha256=digests.sha256,
        md5=digests.md5,
        url=final_url,
        filename=filename,
        content_type=content_type,
        head=head,
        resumed_from=resumed_from,
        restarts=restarts,
        attempts=attempts,
        retries=notes,
        elapsed=clock() - t0,
    )
