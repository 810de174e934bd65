"""Google Drive links and download URLs: which file a ``--url`` names, as a :class:`Source`.

* :func:`resolve_source` turns ``--url`` (any form of a Drive link, or any http(s) mirror) or
  nothing (the dataset's Drive id) into a :class:`Source`; :func:`check_url` refuses what is
  not an http(s) URL with a host (exit 2).
* :func:`drive_base` is ``https://drive.google.com``, or ``LUNGSEGDB_DRIVE_ENDPOINT`` (the
  testing hook: links on that host are parsed as Drive links).

Public through :mod:`lungsegdb_cli.sources.drive.pages`.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lungsegdb_cli._redact import redact, url_sha256
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.errors import UsageError

DEFAULT_BASE = "https://drive.google.com"
ENV_ENDPOINT = "LUNGSEGDB_DRIVE_ENDPOINT"
DRIVE_HOSTS = frozenset({"drive.google.com", "docs.google.com", "drive.usercontent.google.com"})


def drive_base(env: Mapping[str, str] | None = None) -> str:
    """``https://drive.google.com``, or the endpoint from ``LUNGSEGDB_DRIVE_ENDPOINT``."""
    env = os.environ if env is None else env
    endpoint = (env.get(ENV_ENDPOINT) or "").strip()
    if not endpoint:
        return DEFAULT_BASE
    try:
        check_url(endpoint)
    except UsageError as exc:
        raise UsageError(
            f"{ENV_ENDPOINT}: {exc.message}", hint=f"Unset {ENV_ENDPOINT} or fix it."
        ) from None
    return endpoint.rstrip("/")


def download_url(drive_id: str, base: str = DEFAULT_BASE) -> str:
    """The direct-download URL Drive redirects to its usercontent host."""
    return f"{base.rstrip('/')}/uc?id={urllib.parse.quote(drive_id)}&export=download"


def view_url(drive_id: str, base: str = DEFAULT_BASE) -> str:
    """The link to open in a browser."""
    return f"{base.rstrip('/')}/file/d/{urllib.parse.quote(drive_id)}/view"


_ID_RE = re.compile(r"^[-\w]{10,}$")
_PATH_PATTERNS = (
    re.compile(r"^/file(?:/u/\d+)?/d/([-\w]+)(?:/(?:edit|view|preview))?/?$"),
    re.compile(r"^/(?:document|spreadsheets|presentation)(?:/u/\d+)?/d/([-\w]+)(?:/.*)?$"),
)


def _is_drive_host(parsed: urllib.parse.SplitResult, base: str) -> bool:
    host = (parsed.hostname or "").lower()
    if host in DRIVE_HOSTS:
        return True
    b = urllib.parse.urlsplit(base)
    return bool(host) and host == (b.hostname or "").lower() and parsed.port == b.port


def parse_drive_id(url: str, base: str = DEFAULT_BASE) -> str | None:
    """The file id of a Drive link in any of its forms, or None for other URLs.

    ``/file/d/ID/view``, ``/file/u/0/d/ID/edit``, ``/uc?id=ID``, ``/open?id=ID``,
    ``drive.usercontent.google.com/download?id=ID``. Folder links raise :class:`UsageError`.
    """
    try:
        parsed = urllib.parse.urlsplit(url.strip())
        if not _is_drive_host(parsed, base):
            return None
    except ValueError:  # not even parsable (bad port, "[::1"): not a Drive link
        return None
    if re.match(r"^/drive(?:/u/\d+)?/folders/", parsed.path):
        raise UsageError(
            f"This is a Google Drive folder link, not a file: {url}",
            hint="Open the folder in a browser and copy the link of the archive file itself.",
        )
    ids = urllib.parse.parse_qs(parsed.query).get("id")
    if ids and len(ids) == 1 and _ID_RE.match(ids[0]):
        return ids[0]
    for pattern in _PATH_PATTERNS:
        m = pattern.match(parsed.path)
        if m:
            return m.group(1)
    try:  # gdown knows a few more spellings; use it when present
        from gdown.parse_url import parse_url as gdown_parse_url

        file_id, _ = gdown_parse_url(url)
    except (ImportError, ValueError):
        file_id = None
    return file_id


@dataclass(frozen=True)
class Source:
    """Where the archive comes from. ``url`` is the one field that may hold secrets (user
    info, a signature): it is what is requested, never shown (not in ``repr``; ``shown`` and
    :meth:`to_dict` are redacted, :mod:`lungsegdb_cli._redact`)."""

    url: str = field(repr=False)  # the first URL requested
    link: str  # the link to show a person (open it in a browser); always redacted
    drive_id: str | None
    key: str  # names the partial download, so only bytes of the same source are resumed
    #: the source is the dataset's Drive file or another Drive link
    is_drive: bool = field(init=False, repr=False, compare=False)
    #: ``url`` as it may be shown or recorded
    shown: str = field(init=False, repr=False, compare=False)
    #: the SHA-256 of the full ``url``: how the source is recognised, never shown
    url_sha256: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # computed once, here: the stages below read attributes, they do not call back
        object.__setattr__(self, "link", redact(self.link))
        object.__setattr__(self, "is_drive", self.drive_id is not None)
        object.__setattr__(self, "shown", redact(self.url))
        object.__setattr__(self, "url_sha256", url_sha256(self.url))

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.shown, "link": self.link, "drive_id": self.drive_id}


_URL_HINT = (
    "Pass a Google Drive link or an http(s) mirror with --url (env LUNGSEGDB_URL), "
    "or a local file with --archive PATH."
)
#: Characters that never appear in a host name (RFC 3986 reg-name / IP literal).
_BAD_HOST_CHARS = frozenset('<>"{}|\\^`%/?#@')


def _bad_url(url: str, why: str) -> UsageError:
    return UsageError(f"Invalid URL {url!r}: {why}", hint=_URL_HINT, url=url)


def check_url(url: str) -> urllib.parse.SplitResult:
    """``url`` parsed, if it is an http(s) URL a download can be attempted from.

    Raises :class:`UsageError` (exit 2) naming the URL for anything that cannot be: not
    http(s), unparsable (``http://[::1``), no host (``http://``), a port outside 1-65535, a
    space, control character or other impossible character in the host.
    """
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError as exc:
        raise _bad_url(url, str(exc)) from None
    if parsed.scheme.lower() not in ("http", "https"):
        raise UsageError(f"Not an http(s) URL: {url!r}", hint=_URL_HINT, url=url)
    host = parsed.hostname or ""
    if not host:
        raise _bad_url(url, "no host name")
    if port is not None and not 0 < port < 65536:
        raise _bad_url(url, f"port {port} is outside 1-65535")
    if not url.isprintable():
        raise _bad_url(url, "it contains a control character")
    if any(c.isspace() for c in parsed.netloc.rpartition("@")[2]):
        raise _bad_url(url, "the host name contains a space")
    if ":" not in host and any(c in _BAD_HOST_CHARS for c in host):  # ":": an IPv6 literal
        raise _bad_url(url, f"the host name {host!r} contains a character no host name has")
    if ":" not in host:
        try:
            host.encode("idna")
        except UnicodeError:
            why = f"the host name {host!r} is not a valid domain name (empty or too long part)"
            raise _bad_url(url, why) from None
    return parsed


def resolve_source(url: str | None, *, base: str | None = None) -> Source:
    """The :class:`Source` for ``--url`` (None: the dataset's Drive file)."""
    base = drive_base() if base is None else base.rstrip("/")
    if url is None or not url.strip():
        drive_id = dataset.DRIVE_ID
    else:
        url = url.strip()
        check_url(url)
        found = parse_drive_id(url, base)
        if found is None:
            return Source(url=url, link=url, drive_id=None, key=f"url-{url_sha256(url)[:12]}")
        drive_id = found
    link_base = base if base != DEFAULT_BASE else DEFAULT_BASE
    return Source(
        url=download_url(drive_id, base),
        link=view_url(drive_id, link_base),
        drive_id=drive_id,
        key=f"drive-{drive_id}",
    )
