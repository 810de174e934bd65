"""Getting the archive's bytes for ``download``, prepared and checked here, fetched by the
download itself (:func:`prepare` gives the :class:`Job`: the call of the transport the URL's
scheme names -- :mod:`lungsegdb_cli.sources.http.transfer`, or
:mod:`lungsegdb_cli.sources.cloud` -- which the download makes, so this module is not on the
stack while the bytes land; :meth:`Job.finish` then checks the pins) into
``<root>/downloads/<key>.part`` with the free space checked before the first byte and the
transfer bounded (:mod:`lungsegdb_cli.sources.http.bounds`: the pinned archive's size, when the
provenance
here knows it, caps it), a Drive page instead of the file raised as
:class:`~lungsegdb_cli.errors.DrivePageError` (a mirror's as
:class:`~lungsegdb_cli.errors.MirrorRefused`), and bytes that are not the pinned archive moved
aside to ``<name>.rejected``. Nothing here commits anything."""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn, Protocol

from lungsegdb_cli._redact import redact
from lungsegdb_cli._version import __version__
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import DiskFullError, SourceTooBigForDisk, UsageError, from_os_error
from lungsegdb_cli.sources import cloud as fsspec_source
from lungsegdb_cli.sources.drive import gdown as gdown_client
from lungsegdb_cli.sources.drive import pages as drive
from lungsegdb_cli.sources.drive.cookies import CookieFile, is_google_host
from lungsegdb_cli.sources.failures import mismatch, page_error
from lungsegdb_cli.sources.http.bounds import Bounds
from lungsegdb_cli.sources.http.transfer import FetchResult, RetryPolicy, discard_part, fetch
from lungsegdb_cli.state import commit
from lungsegdb_cli.utils import fsutil
from lungsegdb_cli.utils.progress import Progress, note

#: The extracted tree's size, at least, as a multiple of the archive's, before the archive is
#: here to say (a lower bound for any archive; LungSegDB's own tree is about 3.5x): the real
#: size is checked again before extracting (``archive/extract.py``).
EXTRACT_FACTOR = Fraction(6, 5)  # 1.2, exact: a huge announced size gives an exact number
USER_AGENT = f"Mozilla/5.0 (compatible; lungsegdb/{__version__}; +python-requests)"
#: the ``client`` recorded when our own Drive client fetched the archive
CLIENT = "lungsegdb"
#: the second Drive client (gdown): ``fallback(source, part, cookies=, progress=,
#: before_body=, timeout=)`` -> FetchResult, raising ``gdown_client.GdownFailed``
Fallback = Callable[..., FetchResult]


class Session(Protocol):
    """What ``download`` needs of an HTTP session (a ``requests.Session``, or a test's fake)."""

    def get(self, url: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Network:
    """How one download reaches the network: the session (None: a fresh ``requests``
    session, closed afterwards), and the sleep, clock and retry policy :func:`fetch` uses."""

    session: Session | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    policy: RetryPolicy | None = field(default=None)
    #: ``--cookies``: the Google cookies our session (and gdown) sends
    cookies: CookieFile | None = None
    #: the second Drive client; None: gdown, unless a session was injected (a test's fake)
    fallback: Fallback | None = None
    #: ``--storage-option KEY=VALUE``: keyword arguments of an fsspec source's backend
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    #: the size cap and minimum rate of each transfer; None: from the environment
    bounds: Bounds | None = None

    def second_client(self) -> Fallback | None:
        if self.fallback is not None:
            return self.fallback
        return gdown_client.fetch_with_gdown if self.session is None else None


@dataclass(frozen=True)
class Fetched:
    """A finished download: the bytes are in ``part``; ``final`` is the name they are
    committed under."""

    result: FetchResult
    part: Path
    final: Path
    client: str = CLIENT  # which Drive client got the bytes: "lungsegdb" or "gdown"


_RESERVED_SUFFIXES = (".part", ".json", ".rejected")


#: The longest name a server may give the archive (bytes, UTF-8): the commit protocol's names
#: beside it (``.<name>.staging-<txid>``, ``.<name>.old-<txid>``) must still fit a file
#: system's 255; a longer one is not the server's to choose.
MAX_NAME_BYTES = 120


def archive_name(res: FetchResult) -> str:
    """The server's file name (sanitised by fetch, at most :data:`MAX_NAME_BYTES`), else one
    from the magic bytes."""
    name = res.filename
    if (
        name
        and not name.lower().endswith(_RESERVED_SUFFIXES)
        and len(name.encode("utf-8", "surrogateescape")) <= MAX_NAME_BYTES
    ):
        return name
    if res.head.startswith(b"PK\x03\x04") or res.head.startswith(b"PK\x05\x06"):
        return f"{dataset.NAME}.zip"
    if res.head.startswith(b"\x1f\x8b"):
        return f"{dataset.NAME}.tar.gz"
    if res.head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return f"{dataset.NAME}.7z"
    if res.head.startswith(b"Rar!"):
        return f"{dataset.NAME}.rar"
    return f"{dataset.NAME}.archive"


def _make_session(cookies: CookieFile | None = None, source: drive.Source | None = None) -> Any:
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    if cookies is not None:
        s.cookies.update(cookies.jar(endpoint=_stand_in(source)))
    return s


def _stand_in(source: drive.Source | None) -> str | None:
    """The URL of a Drive source served by a stand-in for Drive's hosts (the testing hook
    ``LUNGSEGDB_DRIVE_ENDPOINT``): its host gets the Google cookies too. None otherwise (a
    mirror never gets them)."""
    if source is None or not source.is_drive:
        return None
    host = urllib.parse.urlsplit(source.url).hostname or ""
    return None if is_google_host(host) else source.url


def _space_check(
    downloads: Path, extract: bool, pinned_size: int | None = None
) -> Callable[[int | None, int], None]:
    """The check :func:`fetch` runs once before the body: room for the rest of the download
    and, with ``extract``, for the tree extracted from it. Short of room for what the source
    announces: :class:`SourceTooBigForDisk` (the source's failure: the next one is tried),
    unless the pinned archive's size is known (``pinned_size``: every source must serve
    that many bytes, so the shortfall is the disk's, :class:`DiskFullError`, and stops the
    download at once)."""

    def before_body(total: int | None, offset: int) -> None:
        if total is None:
            return
        needed = max(0, total - offset) + (int(total * EXTRACT_FACTOR) if extract else 0)
        try:
            fsutil.check_free_space(
                downloads, needed, "the download and its extraction", at_least=extract
            )
        except DiskFullError as exc:
            if pinned_size is not None:
                raise
            raise SourceTooBigForDisk(
                f"{exc.message} (the source announces {total:,} bytes)",
                **exc.context,
                announced=total,
            ) from None

    return before_body


def _bounds(net: Network, pinned_size: int | None) -> Bounds:
    """The bounds of a transfer: the pinned archive's size caps it when the caller knows it
    (the provenance it read records an archive with the pinned SHA-256: the same bytes, so
    the same size)."""
    bounds = net.bounds if net.bounds is not None else Bounds.from_env()
    return bounds if pinned_size is None else bounds.pinned(pinned_size)


def prepare(
    paths: DataPaths,
    source: drive.Source,
    pin: str | None,
    *,
    extract: bool,
    progress: Progress | None,
    net: Network,
    md5: str | None = None,
    pinned_size: int | None = None,
) -> Job:
    """The transfer of ``source``'s archive into ``downloads/<key>.part``, prepared (the
    folder made, the free-space check and the bounds set -- never more than ``pinned_size``
    bytes when the size of the pinned archive is known: the caller read it from the
    provenance, once --, the transport chosen by the URL's scheme, a session made for an
    http(s) one). The caller makes the call that writes the bytes (:attr:`Job.call`), inside
    ``with job:`` (which closes the session made for it), and hands the result to
    :meth:`Job.finish`, which checks the pins. A ``.part`` holding bytes of the same source
    is resumed."""
    downloads = paths.downloads_dir
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, f"create {downloads}") from exc
    part = downloads / f"{source.key}.part"
    common: dict[str, Any] = {  # what either transfer takes, whatever the URL's scheme
        "source_key": source.key,
        "progress": progress,
        "sleep": net.sleep,
        "clock": net.clock,
        "policy": net.policy,
        "before_body": _space_check(downloads, extract, pinned_size),
        "md5": md5 is not None,
        "bounds": _bounds(net, pinned_size),
    }
    job = Job(paths, source, pin, part, extract, progress, net, md5, common)
    job.call = choose_transport(source.url)(job)
    return job


@dataclass(frozen=True)
class Call:
    """A transport's call, prepared: ``run(url, part, **kwargs)`` writes the ``.part`` and
    returns its :class:`FetchResult`. An exception of ``handed_on`` (a Google Drive page our
    parser cannot follow) hands the source to :meth:`Job.second_client`."""

    run: Callable[..., FetchResult]
    kwargs: dict[str, Any]
    handed_on: tuple[type[BaseException], ...] = ()
    #: the session made for this call, closed when the job ends (None: the caller's, or none)
    session: Any = None


@dataclass
class Job:
    """One source's transfer, as :func:`prepare` made it: the caller runs :attr:`call`
    (``job.call.run(job.source.url, job.part, **job.call.kwargs)``) inside ``with job:``,
    then :meth:`finish` checks what arrived."""

    paths: DataPaths
    source: drive.Source
    pin: str | None
    part: Path
    extract: bool
    progress: Progress | None
    net: Network
    md5: str | None
    common: dict[str, Any]
    call: Call = field(default_factory=lambda: Call(_no_transport, {}))

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *_: object) -> None:
        if self.call.session is not None:
            self.call.session.close()

    def second_client(self, exc: BaseException) -> FetchResult:
        """gdown's go at the Drive page ``exc`` (a :class:`drive.Refused`) carries: the
        page's exit-3 error (with gdown's reason when it failed too) if it cannot get the
        file."""
        assert isinstance(exc, drive.Refused)
        return _second_client(
            exc.page,
            self.paths,
            self.source,
            self.pin,
            self.part,
            self.extract,
            self.progress,
            self.net,
            md5=self.md5 is not None,
        )

    def finish(self, res: FetchResult, client: str = CLIENT) -> Fetched:
        """The fetched bytes if they are the pinned archive: :class:`ChecksumMismatch` (the
        file moved aside to ``<name>.rejected``) when not (``pin``: SHA-256; ``md5``: MD5,
        computed only when given)."""
        downloads = self.paths.downloads_dir
        return _checked(
            res, self.part, downloads, self.source, self.pin, client, self.md5, paths=self.paths
        )


def _no_transport(*_: object, **__: object) -> FetchResult:  # pragma: no cover - replaced
    raise AssertionError("a job's call is set by prepare()")


def _by_http(job: Job) -> Call:
    """http(s): our transfer, on the caller's session or one made for it; a Google Drive
    page it cannot follow (:class:`drive.Refused`) goes to gdown, the documented second
    Drive client (:meth:`Job.second_client`)."""
    net = job.net
    owned = _make_session(net.cookies, job.source) if net.session is None else None
    sess = net.session if owned is None else owned
    return Call(fetch, {"session": sess, **job.common}, (drive.Refused,), owned)


def _by_fsspec(job: Job) -> Call:
    """``s3://``, ``gs://``, ``az://``, ``hf://``: the fsspec backend."""
    return Call(fsspec_source.fetch, {"storage_options": job.net.storage_options, **job.common})


def _by_file(job: Job) -> Call:
    """``file://`` (and a plain path): the same streaming copy, on the local disk through the
    standard library (:mod:`lungsegdb_cli.sources.localfile`); no extra, no fsspec."""
    return Call(fsspec_source.fetch, dict(job.common))


#: The transport of each URL scheme (pooch's ``choose_downloader`` is the precedent): it
#: prepares the call that writes the ``.part``, which the download makes itself.
TRANSPORTS: dict[str, Callable[[Job], Call]] = {
    "http": _by_http,
    "https": _by_http,
    **{scheme: _by_fsspec for scheme in fsspec_source.BACKENDS},
    "file": _by_file,
}


def choose_transport(url: str) -> Callable[[Job], Call]:
    """The transport for ``url``'s scheme; one the table lacks is a :class:`UsageError`
    (the source plan refuses such URLs first, so this is the net under it)."""
    try:
        scheme = urllib.parse.urlsplit(url.strip()).scheme.lower()
        return TRANSPORTS[scheme]
    except KeyError:
        raise UsageError(
            f"Cannot download {redact(url)}: no transport for {scheme or 'a URL without a scheme'}",
            hint="Use an http(s) URL, a Google Drive link, or s3://, gs://, az://, hf://, file://.",
        ) from None


def _checked(
    res: FetchResult,
    part: Path,
    downloads: Path,
    source: drive.Source,
    pin: str | None,
    client: str,
    md5: str | None = None,
    *,
    paths: DataPaths | None = None,
) -> Fetched:
    """The fetched bytes if they are the pinned archive (else moved aside, and raised)."""
    commit.checkpoint("fetched")
    name = archive_name(res)
    for algorithm, want, got in (("sha256", pin, res.sha256), ("md5", md5, res.md5)):
        if want and got != want:  # the pins, one loop: the first that fails rejects the bytes
            _reject(
                part,
                downloads / f"{name}.rejected",
                res,
                source,
                want,
                algorithm=algorithm,
                paths=paths,
            )
    return Fetched(res, part, downloads / name, client)


def _second_client(
    page: drive.Page,
    paths: DataPaths,
    source: drive.Source,
    pin: str | None,
    part: Path,
    extract: bool,
    progress: Progress | None,
    net: Network,
    *,
    md5: bool = False,
) -> FetchResult:
    """gdown's go at a Drive page our parser gave up on (see :mod:`._gdown_client`); the
    page's exit-3 error, with gdown's reason when it failed too, if it cannot get the file."""
    fallback = net.second_client()
    if fallback is None or not gdown_client.wanted(page, source):
        raise page_error(page, source, paths, pin)
    ver = gdown_client.version() or "(not installed)"
    why = page.detail or page.title or page.kind.value
    if progress is not None:
        note(
            progress,
            f"Google Drive sent a page lungsegdb cannot follow ({why}); trying gdown {ver}",
        )
    policy = net.policy or RetryPolicy()
    try:
        return fallback(
            source,
            part,
            cookies=net.cookies,
            progress=progress,
            before_body=_space_check(paths.downloads_dir, extract),
            timeout=policy.timeout,
            md5=md5,
        )
    except gdown_client.GdownFailed as failed:
        err = page_error(page, source, paths, pin)
        err.message += f"; gdown {ver} could not download it either: {failed.reason}"
        err.args = (err.message,)
        err.context["gdown"] = failed.reason
        raise err from failed


def _reject(
    part: Path,
    rejected: Path,
    res: FetchResult,
    source: drive.Source,
    pin: str,
    algorithm: str = "sha256",
    *,
    paths: DataPaths | None = None,
) -> NoReturn:
    """Move the bytes that are not the pinned archive aside (recorded as the tool's, so
    ``clean`` knows it may remove them) and raise the mismatch."""
    try:
        os.replace(part, rejected)
    except OSError as exc:
        raise from_os_error(exc, f"move {part} aside") from exc
    if paths is not None:
        from lungsegdb_cli.state import rejected as rejected_record

        rejected_record.note(paths, rejected)
    discard_part(part)
    raise mismatch(
        what=f"the download from {source.link}",
        expected=pin,
        actual=res.md5 if algorithm == "md5" else res.sha256,
        size=res.size,
        head=res.head,
        moved_to=rejected,
        algorithm=algorithm,
    )
