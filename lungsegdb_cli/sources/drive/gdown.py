"""gdown as a second Google Drive client, for the pages our own parser cannot follow.

Our Drive client (:mod:`lungsegdb_cli.sources.drive.pages`) understands Drive's redirects, its
virus-scan
warning form and its error pages. When Drive sends an interstitial it does not understand (a
virus-scan page whose form it cannot follow, or an HTML page it cannot classify), the same file
id is handed to gdown's downloader (:func:`fetch_with_gdown`): a change of Drive's pages then
stays fixable with ``pip install -U gdown``, without a lungsegdb release. Pages both clients
know to be final (quota, not found, permission) are not retried with gdown.

What gdown is given and what it is not:

* its output is a stream of ours over our own ``.part`` file (opened by us, started from
  byte 0: gdown cannot resume into a file it did not name, so this is a clean restart); every
  byte written goes through our hasher (SHA-256 + MD5 as the bytes arrive; the pin is checked
  by the caller exactly as for our own client) and our progress reporter (with the length and
  the free-space check where gdown has a ``progress`` callback); gdown itself is quiet. Only
  the arguments the installed gdown takes are passed (``timeout``, ``progress`` and
  ``cookies_file`` are recent), so an older or newer gdown works as well;
* ``--cookies``: a private copy of the Google cookies (gdown rewrites its cookie file after
  every Drive answer; the user's file is never given to it), removed afterwards; without
  cookies (or with a gdown that only knows its one cookie file in the user's home) gdown uses
  none and writes no cookie file of its own;
* the testing hook ``LUNGSEGDB_DRIVE_ENDPOINT``: the endpoint is gdown's HTTP proxy (gdown
  always asks for ``https://drive.google.com``; the test server answers ``CONNECT`` and
  terminates TLS with a test CA given by ``REQUESTS_CA_BUNDLE``). Without the hook gdown talks
  to Google Drive.

Failures are :class:`GdownFailed` (the caller reports both clients' reasons, exit 3); an
error writing the ``.part`` is the local machine's (exit 5).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from lungsegdb_cli.errors import from_os_error
from lungsegdb_cli.sources.drive import pages as drive
from lungsegdb_cli.sources.drive.cookies import CookieFile
from lungsegdb_cli.sources.http.streamhash import StreamHasher
from lungsegdb_cli.sources.http.transfer import HEAD_BYTES, FetchResult, discard_part
from lungsegdb_cli.utils.progress import Progress, ensure

__all__ = ["CLIENT", "FALLBACK_KINDS", "GdownFailed", "fetch_with_gdown", "version", "wanted"]

#: the name recorded as ``client`` when gdown fetched the archive
CLIENT = "gdown"
#: the pages our parser gave up on: gdown may know them
FALLBACK_KINDS = frozenset({drive.PageKind.VIRUS_SCAN, drive.PageKind.HTML})

BeforeBody = Callable[[int | None, int], None]


class GdownFailed(Exception):
    """gdown could not download the file either; ``reason`` says why (one line)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def version() -> str | None:
    """The installed gdown's version, or None when gdown cannot be imported."""
    try:
        from importlib.metadata import version as dist_version

        import gdown  # noqa: F401
    except ImportError:
        return None
    try:
        return dist_version("gdown")
    except Exception:  # metadata missing (a vendored copy): still usable
        return "unknown"


def wanted(page: drive.Page, source: drive.Source) -> bool:
    """True when gdown should have a go: a Drive source and a page our parser gave up on."""
    return source.is_drive and page.kind in FALLBACK_KINDS


class _Feed:
    """The stream gdown writes to: every byte goes to our ``.part`` and our hasher, the first
    bytes are kept (the archive's name comes from its magic bytes). Progress: from gdown's
    ``progress(bytes_so_far, total)`` callback where gdown has one (``reports``), which also
    gives the length for the caller's free-space check (run once, at the first report); else
    from the bytes written (length unknown)."""

    def __init__(
        self,
        hasher: StreamHasher,
        progress: Progress,
        before_body: BeforeBody | None,
        *,
        reports: bool,
    ) -> None:
        self.hasher, self.progress, self.before_body = hasher, progress, before_body
        self.fh: BinaryIO | None = None  # the open .part, set by _run_gdown
        self.reports = reports
        self.head = b""
        self.written = 0
        self.seen = 0
        self.started = False

    def writable(self) -> bool:
        return True

    def write(self, chunk: bytes) -> int:
        assert self.fh is not None
        n = self.fh.write(chunk)
        self.hasher.update(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head = (self.head + chunk[: HEAD_BYTES - len(self.head)])[:HEAD_BYTES]
        self.written += len(chunk)
        if not self.reports:
            self(self.written, None)
        return n

    def flush(self) -> None:
        if self.fh is not None:
            self.fh.flush()

    def __call__(self, so_far: int, total: int | None) -> None:
        if not self.started:
            self.started = True
            if self.before_body is not None:
                self.before_body(total, 0)
            self.progress.start("Downloading with gdown", total, "B")
        self.progress.advance(so_far - self.seen)
        self.seen = so_far


@contextmanager
def _cookie_copy(cookies: CookieFile | None) -> Iterator[str | None]:
    """A private (0600, in a 0700 folder) copy of the Google cookies for gdown, removed on
    leaving; None without cookies."""
    if cookies is None:
        yield None
        return
    from http.cookiejar import MozillaCookieJar

    folder = tempfile.mkdtemp(prefix="lungsegdb-gdown-")
    try:
        path = os.path.join(folder, "cookies.txt")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        jar = MozillaCookieJar(path)
        for c in cookies.cookies():
            jar.set_cookie(c)
        jar.save(ignore_discard=True, ignore_expires=True)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _proxy(source: drive.Source) -> str | None:
    """gdown's proxy: None when ``source`` is on Google Drive's hosts, else the origin of the
    server that stands in for Drive (the testing hook ``LUNGSEGDB_DRIVE_ENDPOINT``, or a
    ``drive_base`` given to ``download()``) -- never the real Drive in its place."""
    parts = urllib.parse.urlsplit(source.url)
    if (parts.hostname or "").lower() in drive.DRIVE_HOSTS:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _options(
    params: Collection[str], *, cookie_path: str | None, timeout: float | tuple[float, float]
) -> dict[str, Any]:
    """The optional arguments of ``gdown.download`` the installed gdown has (``params``):
    a timeout, and the cookies only where it takes a cookie file of ours (older gdowns
    have one fixed file in the user's home: no cookies for those)."""
    kw: dict[str, Any] = {"use_cookies": False}  # gdown.download keyword arguments
    if "timeout" in params:
        kw["timeout"] = timeout
    if cookie_path is not None and "cookies_file" in params:
        kw.update(use_cookies=True, cookies_file=cookie_path)
    return kw


def _parameters() -> Collection[str]:
    """The parameters of the installed ``gdown.download``."""
    import inspect

    import gdown

    return inspect.signature(gdown.download).parameters


def _run_gdown(
    source: drive.Source,
    part: Path,
    feed: _Feed,
    params: Collection[str],
    *,
    cookies: CookieFile | None,
    timeout: float | tuple[float, float],
) -> None:
    """gdown's download of ``source``'s Drive file through ``feed`` into ``part`` (written
    from byte 0)."""
    import gdown
    import requests

    with _cookie_copy(cookies) as cookie_path:
        kw = _options(params, cookie_path=cookie_path, timeout=timeout)
        if feed.reports:
            kw["progress"] = feed
        try:
            with open(part, "wb") as fh:
                feed.fh = fh
                gdown.download(
                    id=source.drive_id,
                    output=feed,  # type: ignore[arg-type]  # a file-like: gdown only write()s it
                    quiet=True,
                    proxy=_proxy(source),
                    **kw,
                )
        except gdown.exceptions.DownloadError as exc:
            raise GdownFailed(_one_line(exc)) from exc
        except requests.RequestException as exc:  # before OSError: these are OSErrors too
            raise GdownFailed(f"{type(exc).__name__}: {_one_line(exc)}") from exc
        except (KeyError, AssertionError, ValueError, TypeError) as exc:  # a page it misread
            raise GdownFailed(f"gdown could not read Drive's page ({_one_line(exc)})") from exc
        except OSError as exc:
            raise from_os_error(exc, f"writing {part}") from exc


def fetch_with_gdown(
    source: drive.Source,
    part: Path,
    *,
    cookies: CookieFile | None = None,
    progress: Progress | None = None,
    before_body: BeforeBody | None = None,
    timeout: float | tuple[float, float] = (15.0, 60.0),
    clock: Callable[[], float] = time.monotonic,
    md5: bool = False,
) -> FetchResult:
    """Download ``source``'s Drive file with gdown into ``part`` (from byte 0).

    Returns the :class:`FetchResult` (digests computed as the bytes arrived; MD5 only with
    ``md5``, for the ``--md5`` pin). Raises
    :class:`GdownFailed` when gdown is missing or cannot download the file; ``part`` (and its
    resume sidecar) are gone then.
    """
    if source.drive_id is None:
        raise GdownFailed("not a Google Drive file")
    if version() is None:
        raise GdownFailed("gdown is not installed (pip install -U gdown)")
    progress = ensure(progress)
    t0 = clock()
    discard_part(part)  # a clean restart: gdown cannot continue our partial bytes
    params = _parameters()
    with StreamHasher(md5=md5) as hasher:
        feed = _Feed(hasher, progress, before_body, reports="progress" in params)
        try:
            _run_gdown(source, part, feed, params, cookies=cookies, timeout=timeout)
            if drive.looks_like_html(feed.head):
                raise GdownFailed("gdown saved an HTML page, not the archive")
            digests = hasher.finish()
        except BaseException:
            discard_part(part)
            raise
        finally:
            if feed.started:
                progress.done()
    return FetchResult(
        path=part,
        size=digests.size,
        sha256=digests.sha256,
        md5=digests.md5,
        url=source.url,
        filename=None,
        content_type=None,
        head=feed.head,
        elapsed=clock() - t0,
    )
