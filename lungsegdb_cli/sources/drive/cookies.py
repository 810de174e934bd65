"""Browser cookies for Google Drive from a Netscape ``cookies.txt`` (``--cookies FILE``).

The documented workaround for Drive's quota page ("Too many users have viewed or downloaded
this file recently") is to download as a signed-in user: export the browser's cookies for
google.com as ``cookies.txt`` and pass it with ``--cookies FILE`` (env ``LUNGSEGDB_COOKIES``).

* The file is only read: opened read-only, never blocking (a FIFO in its place is refused),
  never written back (unlike gdown's own cookie file, which gdown rewrites after every Drive
  answer: gdown gets a private copy, see :mod:`lungsegdb_cli.sources.drive.gdown`).
* Only cookies of Google hosts are kept (``google.com`` and its subdomains), so nothing in
  the file is ever sent to a mirror or to a host a redirect leads to. With the testing hook
  ``LUNGSEGDB_DRIVE_ENDPOINT`` they are also sent to that endpoint's host for a Drive source
  (it stands in for Drive).
* A cookie value is never printed, logged or recorded: an error names the file and the line
  number, never the line.

Format: one cookie per line, 7 tab-separated fields ``domain``, ``include_subdomains``
(``TRUE``/``FALSE``), ``path``, ``secure`` (``TRUE``/``FALSE``), ``expires`` (Unix time; ``0``
or empty: a session cookie), ``name``, ``value``. ``#`` starts a comment, except the
``#HttpOnly_`` prefix browsers' exporters put before a domain. Expired cookies are dropped.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from http.cookiejar import Cookie, CookieJar
from pathlib import Path

from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.utils.hashing import NotRegularFile, read_regular

__all__ = [
    "ENV_COOKIES",
    "GOOGLE_DOMAIN",
    "MAX_BYTES",
    "CookieFile",
    "is_google_host",
    "load",
    "parse",
]

ENV_COOKIES = "LUNGSEGDB_COOKIES"
GOOGLE_DOMAIN = "google.com"
#: A cookies.txt larger than this is not one (a browser's whole export is well under 1 MiB).
MAX_BYTES = 16 << 20
_HTTPONLY = "#HttpOnly_"
_FLAGS = {"TRUE": True, "FALSE": False}
_HINT = (
    "Export the cookies of a browser signed in to Google (drive.google.com) in Netscape "
    "cookies.txt format, or leave out --cookies."
)


def is_google_host(domain: str) -> bool:
    """True for ``google.com`` and its subdomains (a leading dot allowed)."""
    d = domain.lower().lstrip(".")
    return d == GOOGLE_DOMAIN or d.endswith("." + GOOGLE_DOMAIN)


class CookieFile:
    """The Google cookies of one cookies.txt: how many, and a jar for a session.

    ``repr`` and ``str`` name the file and the count, never a value."""

    def __init__(self, path: Path, cookies: list[Cookie], skipped: int = 0) -> None:
        self.path = path
        self._cookies = cookies
        self.skipped = skipped  # cookies of other hosts, or expired

    def __len__(self) -> int:
        return len(self._cookies)

    def __repr__(self) -> str:
        return f"CookieFile({str(self.path)!r}, {len(self)} Google cookies)"

    __str__ = __repr__

    def jar(self, endpoint: str | None = None) -> CookieJar:
        """A new jar with the cookies (``requests`` accepts it as ``session.cookies``). With
        ``endpoint`` (the testing hook's URL) each cookie is also scoped to its host, without
        the ``secure`` flag (the hook's server, standing in for Drive, speaks plain http)."""
        jar = CookieJar()
        host = urllib.parse.urlsplit(endpoint).hostname if endpoint else None
        for c in self._cookies:
            jar.set_cookie(c)
            if host:
                jar.set_cookie(_copy(c, domain=host, domain_specified=False, secure=False))
        return jar

    def cookies(self) -> list[Cookie]:
        return list(self._cookies)


def _copy(c: Cookie, **changes: object) -> Cookie:
    fields: dict[str, object] = {
        "version": c.version,
        "name": c.name,
        "value": c.value,
        "port": c.port,
        "port_specified": c.port_specified,
        "domain": c.domain,
        "domain_specified": c.domain_specified,
        "domain_initial_dot": c.domain_initial_dot,
        "path": c.path,
        "path_specified": c.path_specified,
        "secure": c.secure,
        "expires": c.expires,
        "discard": c.discard,
        "comment": c.comment,
        "comment_url": c.comment_url,
        "rest": dict(c._rest),  # type: ignore[attr-defined]
    }
    fields.update(changes)
    return Cookie(**fields)  # type: ignore[arg-type]


def _bad(path: Path, why: str) -> UsageError:
    return UsageError(f"--cookies {path}: {why}", hint=_HINT, path=str(path))


def _field_count_error(path: Path, lineno: int, n: int) -> UsageError:
    what = f"{n} tab-separated field{'s' if n != 1 else ''}"
    extra = " (a JSON export? save the cookies in Netscape cookies.txt format)" if n == 1 else ""
    return _bad(path, f"line {lineno} is not a cookies.txt line: {what}, 7 expected{extra}")


def _cookie(path: Path, lineno: int, line: str) -> Cookie:
    """The cookie of one data line; a :class:`UsageError` naming the line (not its text)."""
    http_only = line.startswith(_HTTPONLY)
    if http_only:
        line = line[len(_HTTPONLY) :]
    parts = line.split("\t")
    if len(parts) != 7:
        raise _field_count_error(path, lineno, len(parts))
    domain, subdomains, cpath, secure, expires, name, value = parts
    if not domain or subdomains.upper() not in _FLAGS or secure.upper() not in _FLAGS:
        raise _bad(path, f"line {lineno}: domain must be set and the flags TRUE or FALSE")
    if not name:
        raise _bad(path, f"line {lineno}: the cookie has no name")
    expires = expires.strip()
    if expires and not (expires.isascii() and expires.lstrip("-").isdigit()):
        raise _bad(path, f"line {lineno}: the expiry is not a Unix time")
    when = int(expires) if expires else 0
    return Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=domain,
        domain_specified=_FLAGS[subdomains.upper()],
        domain_initial_dot=domain.startswith("."),
        path=cpath or "/",
        path_specified=True,
        secure=_FLAGS[secure.upper()],
        # 0 (or empty): a session cookie, as browser extensions export them
        expires=when if when > 0 else None,
        discard=when <= 0,
        comment=None,
        comment_url=None,
        rest={"HttpOnly": ""} if http_only else {},
    )


#: what an HTTP header cannot carry in a cookie: control characters (and DEL), and ``;``
#: (it would end the cookie); a name cannot hold ``=`` either
_NOT_IN_VALUE = re.compile(r"[\x00-\x1f\x7f;]")
_NOT_IN_NAME = re.compile(r"[\x00-\x1f\x7f;=]")


def _unsendable(text: str, *, name: bool) -> str:
    """Why ``text`` (a cookie's name or value) cannot be sent in a ``Cookie`` header, or ""
    (a header is Latin-1: ``€`` cannot be sent, ``é`` can)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return "holds a character an HTTP header cannot carry (outside Latin-1)"
    if (_NOT_IN_NAME if name else _NOT_IN_VALUE).search(text):
        bad = "a control character, ';' or '='" if name else "a control character or ';'"
        return f"holds {bad}"
    return ""


def _data_lines(text: str) -> Iterable[tuple[int, str]]:
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        if not line.strip() or (line.startswith("#") and not line.startswith(_HTTPONLY)):
            continue
        yield lineno, line


def parse(text: str, path: Path, *, now: float | None = None) -> CookieFile:
    """The Google cookies in ``text`` (the contents of ``path``), expired ones left out."""
    now = time.time() if now is None else now
    kept: list[Cookie] = []
    skipped = 0
    for lineno, line in _data_lines(text):
        c = _cookie(path, lineno, line)
        if not is_google_host(c.domain) or (c.expires is not None and c.expires <= now):
            skipped += 1  # never sent: what another site's cookie holds is not ours to judge
            continue
        for what, value in (("name", c.name), ("value", c.value or "")):
            why = _unsendable(value, name=what == "name")
            if why:  # never the text itself: a cookie's value is a credential
                raise _bad(path, f"line {lineno}: the cookie's {what} {why}")
        kept.append(c)
    if not kept:
        why = "no unexpired cookie for google.com in it" if skipped else "no cookie in it"
        raise _bad(path, why)
    return CookieFile(path, kept, skipped)


def load(
    path: str | os.PathLike[str],
    *,
    clock: Callable[[], float] = time.time,
) -> CookieFile:
    """The Google cookies of the cookies.txt at ``path`` (read once, read-only, never
    written). Raises :class:`UsageError` (exit 2) for a file that is missing, not a regular
    file, unreadable, not text, or not in Netscape format."""
    p = Path(path)
    try:
        raw = read_regular(p, limit=MAX_BYTES)
    except FileNotFoundError:
        raise _bad(p, "no such file") from None
    except IsADirectoryError:
        raise _bad(p, "is a folder, not a file") from None
    except NotRegularFile:
        raise _bad(p, "is not a regular file (a FIFO, device or socket)") from None
    except PermissionError:
        raise _bad(p, "cannot be read (permission denied)") from None
    except OSError as exc:
        raise _bad(p, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_BYTES:
        raise _bad(p, f"is larger than {MAX_BYTES:,} bytes: not a cookies.txt")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad(p, "is not text (UTF-8)") from None
    if "\x00" in text:
        raise _bad(p, "is not text (it contains NUL bytes)")
    return parse(text, p, now=clock())
