"""Ordered sources under one pin: which URLs ``download`` tries, in which order, and how.

* :func:`plan` turns the ``--url`` values (or ``LUNGSEGDB_URLS``, whitespace-separated, or
  ``LUNGSEGDB_URL``) into :class:`~lungsegdb_cli._drive_links.Source` s, in the order given,
  then the dataset's own Drive file last unless ``drive=False`` (``--no-drive``): mirrors you
  control first, Drive as the fallback. A URL given twice is tried once. http(s) and Drive
  links go through the HTTP transfer; ``s3://``, ``gs://``, ``az://``, ``hf://`` and
  ``file://`` through fsspec (:mod:`lungsegdb_cli._fsspec_source`), whose backend is checked
  here (exit 2 naming the extra) before anything is fetched.
* :func:`fetch_first` tries each source in turn. A failure that is the source's fault (a
  quota, permission or not-found page, an unreachable host, retries exhausted, bytes that
  contradict the pin) is one :class:`Attempt` and one note line, and the next source is
  tried; a local failure (disk full) or Ctrl-C stops at once. When every source failed:
  the single source's own error (a plan of one), else :class:`AllSourcesFailed` (exit 3, or
  exit 1 when every source served bytes that are not the pinned archive).
* :func:`redact` is how a URL is shown and recorded: no user info, and no query value other
  than the few Drive needs (``id``, ``export``, ...), so signed URLs and tokens never reach
  the output, the JSON or the provenance.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lungsegdb_cli import _fsspec_source as fsspec_source
from lungsegdb_cli._drive_links import Source, resolve_source
from lungsegdb_cli._progress import Progress, note
from lungsegdb_cli.errors import ChecksumMismatch, DownloadError, UsageError

__all__ = [
    "ENV_URL",
    "ENV_URLS",
    "AllSourcesFailed",
    "AllSourcesMismatch",
    "Attempt",
    "env_urls",
    "fetch_first",
    "plan",
    "redact",
]

ENV_URLS = "LUNGSEGDB_URLS"
ENV_URL = "LUNGSEGDB_URL"

#: query parameters shown as they are (Drive's); every other value is redacted
_SAFE_QUERY = frozenset({"id", "export", "usp", "confirm", "uuid", "resourcekey", "authuser"})

T = TypeVar("T")


def redact(url: str) -> str:
    """``url`` without user info or query secrets (see the module docstring)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{urllib.parse.quote(k, safe='')}="
            + (urllib.parse.quote(v, safe="") if k.lower() in _SAFE_QUERY else "REDACTED")
            for k, v in pairs
        )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def env_urls(env: Mapping[str, str] | None = None) -> list[str]:
    """The sources the environment names: ``LUNGSEGDB_URLS`` (whitespace-separated), else
    ``LUNGSEGDB_URL``."""
    env = os.environ if env is None else env
    many = (env.get(ENV_URLS) or "").split()
    if many:
        return many
    one = (env.get(ENV_URL) or "").strip()
    return [one] if one else []


def _resolve(url: str, base: str | None) -> Source:
    url = url.strip()
    if fsspec_source.handles(url):
        fsspec_source.check_backend(url)
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        return Source(url=url, link=redact(url), drive_id=None, key=f"url-{digest}")
    return resolve_source(url, base=base)


def plan(
    urls: Sequence[str] | str | None, *, drive: bool = True, base: str | None = None
) -> tuple[Source, ...]:
    """The sources to try, in order (see the module docstring). Exit 2 for a URL that
    cannot be fetched (not a supported scheme, a missing backend) or for no source at all."""
    given = [urls] if isinstance(urls, str) else list(urls or ())
    out: list[Source] = []
    for url in given:
        if not url or not url.strip():
            continue
        src = _resolve(url, base)
        if all(s.key != src.key for s in out):
            out.append(src)
    if drive:
        default = resolve_source(None, base=base)
        if all(s.key != default.key for s in out):
            out.append(default)
    if not out:
        raise UsageError(
            "--no-drive and no --url: there is no source to download from",
            hint="Give a mirror with --url URL (or LUNGSEGDB_URLS), or drop --no-drive.",
        )
    return tuple(out)


@dataclass(frozen=True)
class Attempt:
    """One source tried: its URL (redacted), whether it served the archive, and why not."""

    url: str
    ok: bool
    error: str | None = None
    code: int | None = None
    kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "error": self.error, "code": self.code,
                "kind": self.kind}

    def line(self, index: int, total: int) -> str:
        """The one line a failed source gets."""
        return f"source {index}/{total} failed: {self.url}: {self.error}"


class AllSourcesFailed(DownloadError):
    """Every source of the plan failed (exit 3); ``context["sources"]`` lists each."""

    kind = "all-sources-failed"


class AllSourcesMismatch(ChecksumMismatch):
    """Every source served bytes whose SHA-256 is not the pin (exit 1)."""

    kind = "all-sources-mismatch"


def _failed(attempts: list[Attempt], last: DownloadError | ChecksumMismatch) -> Exception:
    listing = "; ".join(f"{i}) {a.url}: {a.error}" for i, a in enumerate(attempts, 1))
    message = f"All {len(attempts)} sources failed: {listing}"
    context = {"sources": [a.to_dict() for a in attempts]}
    if all(a.kind is not None and "mismatch" in a.kind for a in attempts):
        return AllSourcesMismatch(message, hint=last.hint, **context)
    return AllSourcesFailed(message, hint=last.hint, **context)


def fetch_first(
    sources: Sequence[Source],
    fetch_one: Callable[[Source], T],
    *,
    progress: Progress | None = None,
) -> tuple[T, Source, list[Attempt]]:
    """``fetch_one`` of the first source that serves the archive, that source, and every
    attempt (see the module docstring for what moves on and what stops)."""
    attempts: list[Attempt] = []
    last: DownloadError | ChecksumMismatch | None = None
    total = len(sources)
    for index, source in enumerate(sources, 1):
        try:
            got = fetch_one(source)
        except (DownloadError, ChecksumMismatch) as exc:
            if total == 1:
                raise
            last = exc
            message = exc.message.replace(source.url, redact(source.url))
            message = message.replace(source.link, redact(source.link))
            attempt = Attempt(redact(source.link), False, message, int(exc.exit_code), exc.kind)
            attempts.append(attempt)
            if progress is not None:
                more = "; trying the next" if index < total else ""
                note(progress, attempt.line(index, total) + more)
            continue
        attempts.append(Attempt(redact(source.link), True))
        return got, source, attempts
    assert last is not None
    raise _failed(attempts, last) from last
