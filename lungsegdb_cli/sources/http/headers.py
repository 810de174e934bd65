"""What an HTTP answer or a failed request means, for :mod:`lungsegdb_cli.sources.http.transfer`.

Response headers: ``Content-Range``, an identity ``Content-Length``, the file name the server
suggests (sanitised) and the validator for ``If-Range``. Request failures: which exceptions
are transient (retried), which mean a URL that cannot be requested (a usage error for ours, a
download error for one the server sent) and which mean a host name that does not resolve.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lungsegdb_cli.errors import DownloadError, UsageError
from lungsegdb_cli.sources.drive import pages as drive

#: Headers of a response, as ``requests`` (a case-insensitive mapping) or a test gives them.
Headers = Mapping[str, str]


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


def unsatisfied_length(headers: Headers) -> int | None:
    """The file length a ``416`` names (``Content-Range: bytes */LENGTH``), if it does."""
    m = _UNSATISFIED.match(headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _identity(headers: Headers) -> bool:
    for name in ("Content-Encoding", "Transfer-Encoding"):
        for enc in headers.get(name, "").split(","):
            if enc.strip().lower() not in ("", "identity"):
                return False
    return True


def content_length(headers: Headers) -> int | None:
    if not _identity(headers):
        return None
    try:
        n = int(headers.get("Content-Length", ""))
    except ValueError:
        return None
    return n if n >= 0 else None


_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]")


def filename_from(headers: Headers, url: str) -> str | None:
    """The file name the server suggests (Content-Disposition), else the URL's last segment
    without its ``;`` path parameters.

    Examples
    --------
    >>> filename_from({}, "http://h/d/LungSegDB.zip;jsessionid=S3SS10N?v=1")
    'LungSegDB.zip'
    """
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
        # ``;name=value`` path parameters (a ``;jsessionid=``, a ``;token=``) are the URL's,
        # redacted where it is shown: they are not part of the file's name
        segment = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1].split(";", 1)[0]
        last = urllib.parse.unquote(segment)
        name = last if "." in last else None
    if not name:
        return None
    name = _UNSAFE.sub("_", name).strip(" .")
    return name or None


def if_range_validator(headers: Headers) -> str | None:
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return str(etag)
    lm = headers.get("Last-Modified")
    return str(lm) if lm else None


def transient_errors() -> tuple[type[BaseException], ...]:
    import requests

    return (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
        TimeoutError,
    )


def url_errors() -> tuple[type[BaseException], ...]:
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


def invalid_url(url: str, exc: BaseException) -> Exception:
    """A URL that cannot be requested: a usage error (exit 2) naming it when the URL we were
    given is malformed, else the server sent it (a redirect or a form): the download failed
    (exit 3)."""
    import requests

    if _malformed_answer(exc):
        return DownloadError(
            f"The server's answer is malformed ({exc}) while downloading {url}",
            hint="The server (or a proxy before it) is broken: try again later, or pass a "
            "mirror with --url.",
            url=url,
        )
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


def tls_errors() -> tuple[type[BaseException], ...]:
    """A TLS handshake or certificate failure: the same on every try (not a network blip)."""
    import requests

    return (requests.exceptions.SSLError,)


def tls_failure(url: str, exc: BaseException) -> DownloadError:
    """A TLS failure as the download's (exit 3; the next source is tried): what it means in
    plain words, and the two usual causes."""
    text = str(exc)
    who = peer(url, exc)
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        why = f"{who.address} does not speak TLS (is it a plain http:// server?)"
    elif "CERTIFICATE_VERIFY_FAILED" in text:
        why = f"the certificate of {who.address} is not trusted"
    else:
        why = f"the TLS handshake with {who.address} failed"
    return DownloadError(
        f"Download failed: {why}: {type(exc).__name__}: {text}",
        hint="A server that speaks plain HTTP needs an http:// URL; a certificate of your own "
        "CA needs REQUESTS_CA_BUNDLE=/path/to/ca.pem. Not retried: it fails the same way.",
        url=url,
    )


def _malformed_answer(exc: BaseException) -> bool:
    """The answer's headers contradict themselves (two ``Content-Length`` values, a header
    line that is not one): ``InvalidHeader`` from urllib3, http.client or requests."""
    for link in (exc, exc.__cause__, exc.__context__, *getattr(exc, "args", ())):
        if isinstance(link, BaseException) and type(link).__name__ in (
            "InvalidHeader",
            "InvalidChunkLength",
        ):
            return True
    return False


def unresolvable(exc: BaseException) -> bool:
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


def refused(exc: BaseException) -> bool:
    """True when nothing listens at the host and port (the connection was refused): a
    mirror that is down, a wrong port. One quick retry tells a restart from a dead host."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError):
            return True
        todo += [e.__cause__, e.__context__, *(a for a in e.args if isinstance(a, BaseException))]
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return "Connection refused" in repr(exc) or "[Errno 111]" in repr(exc)


@dataclass(frozen=True)
class Peer:
    """The machine a failed request was connecting to: ``host``, ``port``, and whether it is
    the proxy (``http_proxy``/``https_proxy``/``ALL_PROXY``) rather than the URL's host.
    ``address``: ``host:port``."""

    host: str
    port: int
    proxy: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def peer(url: str, exc: BaseException) -> Peer:
    """Who ``exc`` (a ``requests`` error) failed to reach: the connection pool urllib3 was
    using (the proxy's when one is in use), else the failed request's URL (a redirect's
    target, not the mirror that answered with it), else ``url``.

    Examples
    --------
    >>> peer("https://mirror.example/LungSegDB.zip", OSError("refused"))
    Peer(host='mirror.example', port=443, proxy=False)
    """
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        pool = getattr(e, "pool", None)
        host, port = getattr(pool, "host", None), getattr(pool, "port", None)
        proxy = getattr(pool, "proxy", None)  # https through a proxy: the pool is the target's
        if proxy is not None and isinstance(getattr(proxy, "host", None), str):
            default = 443 if getattr(proxy, "scheme", "") == "https" else 80
            return Peer(proxy.host.strip("[]"), getattr(proxy, "port", None) or default, True)
        if isinstance(host, str) and isinstance(port, int):
            proxied = type(exc).__name__ == "ProxyError"
            return Peer(host.strip("[]"), port, proxied)
        if isinstance(e, BaseException):
            todo += [e.__cause__, e.__context__, *e.args]
    request = getattr(exc, "request", None)
    failed = getattr(request, "url", None)
    parts = urllib.parse.urlsplit(failed if isinstance(failed, str) and failed else url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if parts.scheme == "https" else 80
    return Peer(parts.hostname or url, port or default)


def transient_reason(url: str, exc: BaseException) -> tuple[str, int | None]:
    """Why a request failed, in plain words, and the most retries it deserves (``None``: the
    policy's): a host name that does not resolve (usually no network at all) gets two short
    retries, a refused connection (nothing listening there) one, not a minute of waiting.
    The host named is the one that failed (:func:`peer`): a redirect's target, or the proxy."""
    who = peer(url, exc)
    proxy = "the proxy " if who.proxy else ""
    if unresolvable(exc):
        return f"cannot resolve {proxy}{who.host} (no network or DNS?)", 2
    if refused(exc):
        return f"connection refused by {proxy}{who.address} (nothing is listening there)", 1
    return f"{type(exc).__name__}: {exc}", None
