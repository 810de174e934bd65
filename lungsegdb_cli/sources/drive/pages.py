"""Google Drive: links, the pages Drive answers with instead of a file, and opening a download.

* :func:`resolve_source` turns ``--url`` (any form of a Drive link, or any http(s) mirror) or
  nothing (the dataset's Drive id) into a :class:`Source` (links and URLs are parsed in
  :mod:`lungsegdb_cli.sources.drive.links`; its names are public here).
* :func:`open_download` GETs a URL and returns the open response once it carries file bytes. On
  the way it follows Drive's redirect to drive.usercontent.google.com (requests follows
  redirects) and its virus-scan warning form (``#download-form`` with hidden ``confirm``/``uuid``
  inputs). Any HTML it gets instead of a file is classified (quota exceeded, not found,
  permission/sign-in, virus-scan page that could not be followed, other) by content type, magic
  bytes, its structure and ``<title>``, and raised as :class:`Refused` -- never written as the
  archive. The quota page is recognised in any language (:mod:`lungsegdb_cli.sources.drive.quota`).
* Transient answers (429, 5xx) raise :class:`RetryableHTTP` with the server's ``Retry-After``;
  the caller (:mod:`lungsegdb_cli.sources.http.transfer`) decides about retrying.

Testing hook: ``LUNGSEGDB_DRIVE_ENDPOINT`` (e.g. ``http://127.0.0.1:8765``) replaces
``https://drive.google.com`` for the default source and for Drive links; links on that host are
parsed as Drive links. Everything else (redirects, forms) is followed as the server sends it,
so the same code talks to the real Drive and to a local fake.
"""

from __future__ import annotations

import email.utils
import html
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from html.parser import HTMLParser
from typing import Any

from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.sources.drive import quota
from lungsegdb_cli.sources.drive.links import (
    DEFAULT_BASE,
    DRIVE_HOSTS,
    ENV_ENDPOINT,
    Source,
    check_url,
    download_url,
    drive_base,
    parse_drive_id,
    resolve_source,
    view_url,
)
from lungsegdb_cli.sources.http.body import BodyReader, ReadGuard

__all__ = [
    "DEFAULT_BASE",
    "DRIVE_HOSTS",
    "ENV_ENDPOINT",
    "HTML_LIMIT",
    "MAX_HOPS",
    "QUOTA_TEXT",
    "TRANSIENT_STATUS",
    "Opened",
    "Page",
    "PageKind",
    "Refused",
    "RetryableHTTP",
    "Source",
    "check_url",
    "classify",
    "download_url",
    "drive_base",
    "is_html_type",
    "iter_body",
    "looks_like_html",
    "open_download",
    "parse_drive_id",
    "parse_retry_after",
    "resolve_source",
    "view_url",
]

#: How much of an HTML answer is read to classify it.
HTML_LIMIT = 2 << 20
#: Interstitial pages (virus-scan forms) followed before giving up.
MAX_HOPS = 4

QUOTA_TEXT = quota.QUOTA_TEXT


# ---------------------------------------------------------------------------------------------
# What came back instead of a file
# ---------------------------------------------------------------------------------------------
class PageKind(str, Enum):
    QUOTA = "quota-exceeded"
    NOT_FOUND = "not-found"
    PERMISSION = "permission-denied"
    VIRUS_SCAN = "virus-scan-warning"
    HTML = "html-page"
    HTTP = "http-error"


@dataclass(frozen=True)
class Page:
    """An answer that is not the file: what it is, its title, and the URL it came from."""

    kind: PageKind
    url: str
    title: str = ""
    status: int = 200
    next_url: str | None = None  # for a virus-scan form we can follow
    detail: str = ""


class Refused(Exception):
    """The server answered with something other than the file, for good (do not retry)."""

    def __init__(self, page: Page) -> None:
        super().__init__(f"{page.kind.value}: {page.title or page.status} ({page.url})")
        self.page = page


class RetryableHTTP(Exception):
    """A transient HTTP answer (429, 5xx); ``retry_after`` in seconds if the server said."""

    def __init__(self, status: int, url: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.url = url
        self.retry_after = retry_after


_HTML_TYPES = ("text/html", "application/xhtml")
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


def is_html_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";")[0].strip().lower().startswith(_HTML_TYPES)


def looks_like_html(head: bytes) -> bool:
    """Magic-byte test: the first bytes of an HTML document (BOM and whitespace allowed)."""
    return bool(_HTML_START.match(head[:1024].removeprefix(b"\xef\xbb\xbf")))


class _FormParser(HTMLParser):
    """Collects ``<title>``, the ``#download-form`` (action + hidden inputs), download hrefs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self._in_title = False
        self._in_form = False
        self.form_action: str | None = None
        self.form_fields: list[tuple[str, str]] = []
        self.hrefs: list[str] = []
        self.error_texts: list[str] = []
        self._in_error = False
        self.uc_error = False  # Drive's download error page (uc-error-caption/-subcaption)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if not quota.UC_ERROR_CLASSES.isdisjoint(a.get("class", "").split()):
            self.uc_error = True
        if tag == "title":
            self._in_title = True
        elif tag == "form" and a.get("id") == "download-form":
            self._in_form = True
            self.form_action = a.get("action", "")
        elif tag == "input" and self._in_form and a.get("type", "").lower() == "hidden":
            if a.get("name"):
                self.form_fields.append((a["name"], a.get("value", "")))
        elif tag == "a" and "export=download" in a.get("href", ""):
            self.hrefs.append(a["href"])
        elif "uc-error-subcaption" in a.get("class", ""):
            self._in_error = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "form":
            self._in_form = False
        elif self._in_error and tag in ("p", "div", "span"):
            self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._in_error and data.strip():
            self.error_texts.append(data.strip())


def _form_url(parser: _FormParser, page_url: str) -> str | None:
    if parser.form_action is not None:
        action = urllib.parse.urljoin(page_url, html.unescape(parser.form_action))
        parts = urllib.parse.urlsplit(action)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        names = {n for n, _ in parser.form_fields}
        query = [(n, v) for n, v in query if n not in names] + parser.form_fields
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    if parser.hrefs:
        return urllib.parse.urljoin(page_url, html.unescape(parser.hrefs[0]))
    return None


def _followable(url: str) -> bool:
    """True if a link found in a page is an http(s) URL a request can be made to."""
    try:
        check_url(url)
    except UsageError:
        return False
    return True


def classify(body: bytes, *, url: str, status: int = 200) -> Page:
    """What an HTML answer is: quota page (in any language), not found, permission/sign-in,
    virus-scan form..."""
    text = body.decode("utf-8", errors="replace")
    parser = _FormParser()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup: fall back on text matching
        pass
    title = " ".join(parser.title.split())
    low = text.lower()
    detail = " ".join(parser.error_texts)[:300]
    if quota.by_words(title, text):
        return Page(PageKind.QUOTA, url, title, status, detail=detail)
    try:
        next_url = _form_url(parser, url)
    except ValueError:  # an action/href urllib cannot even parse ("http://[::1")
        next_url = None
    if next_url is None and "downloadurl" in low:
        m = re.search(r'"downloadUrl":"([^"]+)', text)
        if m:
            next_url = m.group(1).replace("\\u003d", "=").replace("\\u0026", "&")
    if next_url is not None and not _followable(next_url):
        return Page(
            PageKind.VIRUS_SCAN, url, title, status, detail="its download link is not a valid URL"
        )
    if next_url is not None:
        return Page(PageKind.VIRUS_SCAN, url, title, status, next_url=next_url, detail=detail)
    if quota.by_structure(uc_error=parser.uc_error, followable=False, status=status):
        return Page(PageKind.QUOTA, url, title, status, detail=detail)
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if (
        status in (401, 403)
        or host.startswith("accounts.")
        or "sign in" in title.lower()
        or "you need access" in low
        or "request access" in low
        or "access denied" in low
    ):
        return Page(PageKind.PERMISSION, url, title, status, detail=detail)
    if (
        status in (404, 410)
        or "not found" in title.lower()
        or "does not exist" in low
        or "file you have requested does not exist" in low
    ):
        return Page(PageKind.NOT_FOUND, url, title, status, detail=detail)
    if "virus scan warning" in low or "download-form" in low:
        return Page(PageKind.VIRUS_SCAN, url, title, status, detail="form not understood")
    return Page(PageKind.HTML, url, title, status, detail=detail)


# ---------------------------------------------------------------------------------------------
# Opening a download
# ---------------------------------------------------------------------------------------------
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.
    Delta-seconds are ASCII digits only (``str.isdigit`` also accepts e.g. ``'\u00b2'``)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return int(value)  # an int: a huge value is shown as sent, not as a float's digits
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass
class Opened:
    """A response carrying the file's bytes; ``body`` reads them in large blocks (any bytes
    peeked at to tell a page from the file come first)."""

    response: Any  # requests.Response
    body: BodyReader
    url: str

    def close(self) -> None:
        self.response.close()


def iter_body(resp: Any, chunk_size: int) -> Iterator[bytes]:
    """The body in blocks of ``chunk_size`` bytes (the last one shorter), as ``bytes``.
    See :class:`lungsegdb_cli.sources.http.body.BodyReader` (which avoids the copies made here)."""
    body = BodyReader(resp)
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    while True:
        n = body.readinto(view)
        if not n:
            return
        yield bytes(view[:n])


def open_download(
    session: Any,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | tuple[float, float] = (15.0, 60.0),
    max_hops: int = MAX_HOPS,
    guard: Callable[[Any], ReadGuard] | None = None,
) -> Opened:
    """GET ``url`` (following redirects and Drive's virus-scan form); return the open file body.

    Raises :class:`Refused` for a permanent non-file answer, :class:`RetryableHTTP` for
    429/5xx, and lets ``requests`` exceptions (connection reset, timeout) through.
    ``guard(response)`` is the :class:`ReadGuard` of each body's reads (pages included).
    """
    hdrs = dict(headers or {})
    current = url
    for _hop in range(max_hops + 1):
        resp = session.get(current, headers=hdrs, stream=True, timeout=timeout)
        final_url = str(getattr(resp, "url", current) or current)
        status = int(resp.status_code)
        if status in TRANSIENT_STATUS:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            resp.close()
            raise RetryableHTTP(status, final_url, retry_after)
        body = BodyReader(resp, None if guard is None else guard(resp))
        if status == 416:  # Range not satisfiable: the caller compares Content-Range
            return Opened(response=resp, body=body, url=final_url)
        ctype = resp.headers.get("Content-Type", "")
        html_answer = is_html_type(ctype)
        if not html_answer:
            # A resumed (206) body starts mid-file: only sniff whole answers
            html_answer = status != 206 and looks_like_html(body.peek())
        if html_answer:
            page_bytes = body.read_limited(HTML_LIMIT)
            resp.close()
            page = classify(page_bytes, url=final_url, status=status)
            if page.kind is PageKind.VIRUS_SCAN and page.next_url and page.next_url != current:
                current = page.next_url
                continue
            raise Refused(page)
        if status >= 400:
            resp.close()
            kind = (
                PageKind.NOT_FOUND
                if status in (404, 410)
                else PageKind.PERMISSION
                if status in (401, 403)
                else PageKind.HTTP
            )
            raise Refused(
                Page(kind, final_url, f"HTTP {status} {resp.reason or ''}".strip(), status)
            )
        return Opened(response=resp, body=body, url=final_url)
    raise Refused(
        Page(
            PageKind.VIRUS_SCAN,
            current,
            "Google Drive - Virus scan warning",
            detail=f"still a warning page after {max_hops} confirmations",
        )
    )
