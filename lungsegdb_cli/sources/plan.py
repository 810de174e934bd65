"""Ordered sources under one pin: which URLs ``download`` tries, in which order, and how.

* :func:`plan` turns the ``--url`` values (or ``LUNGSEGDB_URLS``, whitespace-separated, or
  ``LUNGSEGDB_URL``) into :class:`~lungsegdb_cli.sources.drive.links.Source` s, in the order given,
  then the dataset's own Drive file last unless ``drive=False`` (``--no-drive``): mirrors you
  control first, Drive as the fallback. A URL given twice is tried once. http(s) and Drive
  links go through the HTTP transfer; ``s3://``, ``gs://``, ``az://`` and ``hf://`` through
  fsspec (:mod:`lungsegdb_cli.sources.cloud`), whose URL (a bucket and a file in it) and
  backend are checked here (exit 2 naming the URL or the extra) before anything is fetched;
  ``file://`` URLs and plain paths (``/srv/LungSegDB.zip``, ``./LungSegDB.zip``) through the
  same copy on the standard library (:mod:`lungsegdb_cli.sources.localfile`, no extra).
* :class:`Failover` keeps the score while its caller (``sources/download.py``, the one
  orchestrator) fetches each source in turn -- no callback: the fetch is the caller's own
  code, so the path from the command to the bytes does not pass through this module. A
  failure that is the source's fault (:attr:`Failover.failures`: a quota, permission or
  not-found page, an unreachable host, retries exhausted, bytes that contradict the pin, a
  size announced that the free space cannot hold while the pinned size is not known) is
  one :class:`Attempt` and one note line, and the next source is tried; a local failure
  (disk full while writing, or short of room for the pinned archive's known size) or Ctrl-C
  stops at once. When every source failed, the error is the first source's (its kind, exit
  code and next step: the source you chose first) -- a free-space shortfall only when every
  source fell short of space, else the first other failure -- its message listing every
  other failure and ``context["sources"]`` each attempt.
* :func:`redact` (:mod:`lungsegdb_cli._redact`, the one rule) is how a URL is shown and
  recorded: user info and credential parameters (signatures, tokens, keys, an Azure SAS)
  become ``***``, so signed URLs and tokens never reach the output, the JSON, an error or a
  file; a source is recognised by the SHA-256 of its full URL instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lungsegdb_cli._redact import redact, url_sha256
from lungsegdb_cli.errors import (
    ChecksumMismatch,
    DownloadError,
    LungSegDBError,
    SourceTooBigForDisk,
    UsageError,
)
from lungsegdb_cli.sources import cloud as fsspec_source
from lungsegdb_cli.sources.drive.links import Source, resolve_source
from lungsegdb_cli.sources.localfile import published_archive, source_url
from lungsegdb_cli.sources.request import ENV_URL, ENV_URLS, env_urls
from lungsegdb_cli.utils.progress import Progress, note

__all__ = [
    "ENV_URL",
    "ENV_URLS",
    "Attempt",
    "Failover",
    "adopt_part",
    "env_urls",
    "failover_policy",
    "plan",
    "redact",
]


def _resolve(url: str, base: str | None) -> Source:
    url = url.strip()
    if "://" not in url:  # a plain path is its file:// URL
        url = source_url(url) or url
    if url[:5].lower() == "file:":  # a folder publish wrote: the archive it names
        url = published_archive(url)
    if fsspec_source.handles(url):
        fsspec_source.check_url(url)
        fsspec_source.check_backend(url)
        return Source(url=url, link=url, drive_id=None, key=f"url-{url_sha256(url)[:12]}")
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
    """One source tried: its URL (redacted), whether it served the archive, and why not;
    ``rejected``: where bytes that contradicted the pin were moved aside (else None)."""

    url: str
    ok: bool
    error: str | None = None
    code: int | None = None
    kind: str | None = None
    rejected: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "error": self.error,
            "code": self.code,
            "kind": self.kind,
        }

    def line(self, index: int, total: int) -> str:
        """The one line a failed source gets."""
        return f"source {index}/{total} failed: {self.url}: {self.error}"


def _failed(attempts: list[Attempt], first: LungSegDBError, index: int = 0) -> LungSegDBError:
    """The error of source ``index`` (the first: its kind, exit code and hint, the source
    chosen first; see :meth:`Failover.error`), its message extended with every other failure,
    ``context["sources"]`` listing each."""
    others = "; ".join(
        f"{i}) {a.url}: {a.error}" for i, a in enumerate(attempts, 1) if i != index + 1
    )
    if index == 0:
        first.message = f"{attempts[0].error}; then tried {others}"
    else:
        first.message = f"{attempts[index].error} (source {index + 1}); the others: {others}"
    first.args = (first.message,)
    first.context["sources"] = [a.to_dict() for a in attempts]
    return first


def adopt_part(downloads: Path, failed: Source, nxt: Source) -> bool:
    """Let ``nxt`` resume the partial download ``failed`` left in this run (same pin: the
    caller only asks with one). The ``.part`` is renamed to ``nxt``'s, its sidecar keeps the
    size and drops the validator (another server's ETag means nothing): the HTTP transfer
    then continues only with a ``206`` at the offset and the same total, fsspec only when the
    object has the same size; anything else starts from byte 0. The pin is checked at the
    end. True if a part was adopted."""
    from lungsegdb_cli.sources.http.resume import ResumeState, state_path
    from lungsegdb_cli.utils.fsutil import atomic_write_text

    old, new = downloads / f"{failed.key}.part", downloads / f"{nxt.key}.part"
    state = ResumeState.load(old)
    if new.exists() or state.source != failed.key or state.total is None or not old.is_file():
        return False
    try:
        os.replace(old, new)
        moved = ResumeState(
            source=nxt.key,
            validator=None,
            total=state.total,
            filename=state.filename,
            source_sha256=nxt.url_sha256,
        )
        atomic_write_text(state_path(new), moved.to_json())
        state_path(old).unlink(missing_ok=True)
    except OSError:
        return False
    return True


#: Retries (consecutive failures without progress) for a source that is not the last one.
FAILOVER_RETRIES = 2


def failover_policy(policy: Any) -> Any:
    """``policy`` (None: the default) with at most :data:`FAILOVER_RETRIES` retries: 1 s + 2 s
    of back-off before the next source, where the last source gets the full budget."""
    from dataclasses import replace

    from lungsegdb_cli.sources.http.transfer import RetryPolicy

    base = policy if policy is not None else RetryPolicy()
    return replace(base, retries=min(base.retries, FAILOVER_RETRIES))


class Failover:
    """The sources of one download, tried in order by the caller, and every attempt.

    The caller fetches each source itself and reports the outcome: :meth:`failed` for one of
    :attr:`failures` (it raises that error when there is only one source), :meth:`served`
    for the one that served the archive, and raises :meth:`error` when every source failed.
    Any other exception is the caller's to let through (a local failure or Ctrl-C stops at
    once).

    Examples
    --------
    >>> from lungsegdb_cli.errors import DownloadError
    >>> from lungsegdb_cli.sources.plan import Failover, plan
    >>> tries = Failover(plan(["https://a.example/x.zip", "https://b.example/x.zip"],
    ...                       drive=False))
    >>> for source in tries:
    ...     if source.url.startswith("https://a."):
    ...         tries.failed(source, DownloadError("connection refused"))
    ...         continue
    ...     break
    >>> [(a.url, a.ok) for a in tries.served(source)]
    [('https://a.example/x.zip', False), ('https://b.example/x.zip', True)]
    """

    #: the failures that are the source's fault: the next source is tried (a free-space
    #: shortfall for the size one source announces, too: the size may be a lie)
    failures: tuple[type[LungSegDBError], ...] = (
        DownloadError,
        ChecksumMismatch,
        SourceTooBigForDisk,
    )

    def __init__(self, sources: Sequence[Source], progress: Progress | None = None) -> None:
        self.sources = tuple(sources)
        self.progress = progress
        self.attempts: list[Attempt] = []
        self._errors: list[LungSegDBError] = []

    def __iter__(self) -> Iterator[Source]:
        return iter(self.sources)

    def failed(self, source: Source, exc: LungSegDBError) -> None:
        """Record that ``source`` failed with ``exc`` (one of :attr:`failures`) and note it;
        raise ``exc`` itself when it is the only source."""
        total = len(self.sources)
        if total == 1:
            raise exc
        self._errors.append(exc)
        rejected = exc.context.get("rejected")
        attempt = Attempt(
            source.link,  # redacted when the source was made
            False,
            exc.message,  # redacted when the error was made
            int(exc.exit_code),
            exc.kind,
            rejected if isinstance(rejected, str) else None,
        )
        self.attempts.append(attempt)
        index = len(self.attempts)
        if self.progress is not None:
            more = "; trying the next" if index < total else ""
            note(self.progress, attempt.line(index, total) + more)

    def error(self) -> LungSegDBError:
        """The error when every source failed: the first source's (its kind, exit code and
        hint), its message extended with every later failure (see :func:`_failed`). A
        free-space shortfall for the size a source announces heads it only when every source
        fell short of space (the disk is too full: exit 5); otherwise the first other
        failure does (that source's size may have been a lie)."""
        assert self._errors
        index = next(
            (i for i, e in enumerate(self._errors) if not isinstance(e, SourceTooBigForDisk)), 0
        )
        return _failed(self.attempts, self._errors[index], index)

    def served(self, source: Source) -> list[Attempt]:
        """Record that ``source`` served the archive; every attempt, in order."""
        self.attempts.append(Attempt(source.link, True))
        return self.attempts
