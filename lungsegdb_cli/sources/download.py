"""``lungsegdb download``: get the archive, check it, extract it, write the manifest.

:func:`download` is the operation ``lungsegdb_cli.download`` hands out (through
:mod:`lungsegdb_cli.api.acquire`; here, not in ``api/``, because ``PairDataset(download=True)``,
a layer below the API, runs it too): it runs the steps itself (pooch's ``retrieve``): it calls
the transport that writes the ``.part`` and the extraction's writer, and stages provenance and
manifest through the transaction, so no helper module is on the stack when bytes land.

The order of decisions:

1. Nothing to do: the tree is complete (manifest present, every file at its recorded size) --
   or, with ``extract=False``, the kept archive is -- and ``force`` is off. With a pinned
   ``sha256`` the tree must have been extracted from the archive the pin names (recorded in the
   manifest's sidecar at the same commit as the tree). No network; about a second. Checked as a
   reader first, so an intact read-only data dir is fine; then again under the writer lock.
2. ``archive``: a file the user downloaded by hand. No network: hash it (one read), check the
   pin, stage its provenance (the file stays where it is), extract.
3. ``offline`` (or a kept archive that matches): never touch the network; extract the kept
   archive; else :class:`OfflineError`.
4. Otherwise fetch (:mod:`lungsegdb_cli.sources.fetch` prepares, the transport of the URL's
   scheme, e.g. :mod:`lungsegdb_cli.sources.http.transfer`, writes) into
   ``<root>/downloads/<key>.part``; hashes
   come from the stream. A pin mismatch moves the file aside (``<name>.rejected``) and raises
   :class:`ChecksumMismatch`; nothing is extracted. An archive that turns out unusable (exit 4)
   is moved aside the same way.

Everything a run changes -- the archive under its final name, the provenance, the tree, the
manifest -- is staged and committed at one step (:mod:`lungsegdb_cli.state.commit`), under the data
dir's writer lock held from the first check to the commit: the record never changes before the
tree does, and a run killed at any point leaves the old state or the new one.

Drive pages instead of the archive become :class:`DrivePageError` (exit 3) saying which page it
was and what to do next; a mirror's pages and refusals :class:`MirrorRefused` (exit 3).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lungsegdb_cli._version import __version__
from lungsegdb_cli.checks.here import Here, tree_intact
from lungsegdb_cli.checks.origin import tree_origin
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import ArchiveError, LocalError, UsageError
from lungsegdb_cli.sources import ownership
from lungsegdb_cli.sources import plan as sources_mod
from lungsegdb_cli.sources.request import DownloadRequest
from lungsegdb_cli.sources.result import (
    ACTION_DOWNLOADED,
    ACTION_KEPT,
    ACTION_LOCAL,
    ACTION_UP_TO_DATE,
    ArchiveRecord,
    DownloadResult,
    SourceRecord,
)
from lungsegdb_cli.state import commit
from lungsegdb_cli.state.datadir import open_data_dir
from lungsegdb_cli.state.provenance import FIELDS, Provenance, record_path
from lungsegdb_cli.utils import fsutil
from lungsegdb_cli.utils.arguments import PathLike
from lungsegdb_cli.utils.progress import Progress, note

# The network, Drive and failure modules are imported where they are used: a download that
# finds the tree intact (every CI run after a cache restore) never needs them, and they cost
# more start-up time than the whole check (http.client, email, html.parser ...).
if TYPE_CHECKING:
    from lungsegdb_cli.sources.drive.links import Source
    from lungsegdb_cli.sources.fetch import Fetched, Network, Session
    from lungsegdb_cli.sources.http.transfer import RetryPolicy

__all__ = [
    "ACTION_DOWNLOADED",
    "ACTION_KEPT",
    "ACTION_LOCAL",
    "ACTION_UP_TO_DATE",
    "ENV_SHA256",
    "ENV_URL",
    "ArchiveRecord",
    "DownloadResult",
    "SourceRecord",
    "download",
    "run",
    "tree_intact",
]

ENV_URL = "LUNGSEGDB_URL"
ENV_SHA256 = "LUNGSEGDB_SHA256"


def download(
    data_dir: PathLike | None = None,
    *,
    url: PathLike | None = None,
    archive: PathLike | None = None,
    sha256: str | None = None,
    offline: bool | None = None,
    force: bool = False,
    extract: bool = True,
    progress: Progress | None = None,
    cookies: PathLike | None = None,
    require_pin: bool | None = None,
    keep_archive: bool = True,
    urls: Sequence[str] | None = None,
    drive: bool = True,
    storage_options: Mapping[str, Any] | None = None,
    md5: str | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    request: DownloadRequest | None = None,
) -> DownloadResult:
    """Get LungSegDB into ``data_dir``: fetch, check the SHA-256, extract, write the manifest.

    A re-run on a complete, intact tree does nothing (no network). Everything changes at one
    crash-safe commit: a run that fails or is killed leaves the previous state.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root (default: ``$LUNGSEGDB_HOME``, else the user cache dir).
    url : str or os.PathLike, optional
        A Google Drive link in any form, any http(s) mirror or fsspec URL, or a local path:
        that source alone (the command
        line's ``--url U`` is ``urls=[U]``, Drive after it). Neither ``url`` nor ``urls``:
        ``$LUNGSEGDB_URLS`` / ``$LUNGSEGDB_URL`` as ``urls``, else the dataset's Drive file.
    archive : str or os.PathLike, optional
        A file downloaded by hand: hashed, checked and extracted; no network.
    sha256 : str, optional
        The pin: the archive must have this SHA-256, and the tree must come from it.
        Default: ``$LUNGSEGDB_SHA256``.
    offline : bool, optional
        Never touch the network. Default (None): ``$LUNGSEGDB_OFFLINE``.
    force : bool
        Download and extract again even if the tree is complete.
    extract : bool
        False: only fetch and check the archive.
    progress : Progress, optional
        Receives ``start``/``advance``/``done`` calls.
    cookies : str or os.PathLike, optional
        A Netscape cookies.txt exported from a browser signed in to Google: its Google
        cookies are sent to Drive (the workaround for the quota page). Read only, never
        written; never printed or recorded.
    require_pin : bool, optional
        Refuse to run without ``sha256`` (a :class:`UsageError`, exit 2, before anything is
        read or fetched): CI never downloads unpinned data by accident. Default (None):
        ``$LUNGSEGDB_REQUIRE_PIN``, so the CI guard holds for library calls too.
    keep_archive : bool
        False: once the tree is extracted and intact, delete the archive from
        ``<root>/downloads`` and record that it was discarded by choice (``verify`` then
        checks the tree only). A file given as ``archive`` is never deleted.
    urls : str or sequence of str, optional
        Ordered sources (a single ``str`` is one source, not its characters), tried in turn
        under the one pin: Google Drive links, http(s)
        mirrors, or fsspec URLs (``s3://``, ``gs://``, ``az://``, ``hf://``, ``file://``;
        the backends are extras). Then the dataset's Drive file, unless ``drive`` is False.
        Each failure is recorded in ``result.sources`` and the next source is tried.
    drive : bool
        False leaves the dataset's Drive file out (``--no-drive``); with no other source
        that is a :class:`UsageError` (exit 2).
    storage_options : mapping, optional
        Keyword arguments of the fsspec backend (``--storage-option KEY=VALUE``). Never
        printed or recorded.
    md5 : str, optional
        A second pin: the archive's MD5 (32 hex digits, Google Drive's own checksum). Without
        it no MD5 is computed (``archive.md5`` is None).
    retries : int, optional
        Failed attempts in a row before a source is given up (0 to 100; default 6, 2 for a
        source with another behind it; ``$LUNGSEGDB_RETRIES``). A refused connection gets one
        quick retry whatever.
    timeout : float, optional
        Seconds a connection or a read may stall before it counts as failed (default
        ``$LUNGSEGDB_TIMEOUT``, else 60).
    request : DownloadRequest, optional
        The whole request, already built (:meth:`DownloadRequest.build
        <lungsegdb_cli.sources.request.DownloadRequest.build>`, as the command line does
        where it parses its options): used as it is, and the options above are then not
        given (a :class:`UsageError` if one is).

    Returns
    -------
    DownloadResult
        ``action`` (``up-to-date``, ``downloaded``, ``local-archive``, ``kept-archive``),
        ``archive`` (path, sha256, size), ``files``, ``source``, ``archive_kept`` (whether
        the archive is still there after the run).

    Raises
    ------
    UsageError
        ``require_pin`` without ``sha256``, ``keep_archive=False`` with ``extract=False``, an
        option of the wrong type (``sha256=123``, ``url=5``), or a bad ``LUNGSEGDB_MAX_*`` /
        ``LUNGSEGDB_WORKERS`` / ``LUNGSEGDB_LOCK_TIMEOUT`` value (exit 2), before anything is
        read or fetched, also on an intact tree.
    ChecksumMismatch
        The archive is not the pinned one (exit 1); nothing was extracted.
    DownloadError
        Network, Drive quota or permission page, offline with nothing local (exit 3).
    ArchiveError
        The archive is unusable or unsafe (exit 4).
    LocalError
        Disk full, permission denied, lock held too long (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/synth", pairs=2)
    >>> got = L.download(tmp + "/data", archive=made.archive.path, sha256=made.archive.sha256)
    >>> got.action, got.files
    ('local-archive', 16)
    >>> L.download(tmp + "/data", sha256=made.archive.sha256, offline=True).action
    'up-to-date'
    >>> work.cleanup()
    """
    options = {
        "urls": urls,
        "url": url,
        "drive": drive,
        "archive": archive,
        "sha256": sha256,
        "md5": md5,
        "require_pin": require_pin,
        "keep_archive": keep_archive,
        "offline": offline,
        "force": force,
        "extract": extract,
        "cookies": cookies,
        "storage_options": storage_options,
        "retries": retries,
        "timeout": timeout,
    }
    request = DownloadRequest.given(request, options)  # checked before anything is read
    # the one door (a half-done commit is recovered first), as a writer: a folder of the
    # user's is a data root, never the tree this run replaces
    paths = open_data_dir(data_dir, writing=True)
    result = run(paths, request, progress=progress)
    if not request.keep_archive:
        from lungsegdb_cli.sources import discard

        discard.discard_archive(paths)
    result.archive_kept = result.archive is not None and result.archive.present()
    if result.extract is not None:
        result.missing = list(result.extract.missing)
    elif request.extract:
        from lungsegdb_cli.dataset.tree import missing_leaves

        result.missing = missing_leaves(result.dataset_dir)
    return result


@dataclass(frozen=True)
class _Op:
    """One ``download`` call: where, what was asked (the request, unchanged), the sources to
    try in order (:func:`lungsegdb_cli.sources.plan.plan`) and who hears of progress."""

    paths: DataPaths
    request: DownloadRequest
    plan: tuple[Source, ...]
    progress: Progress | None = None

    @property
    def source(self) -> Source:
        """The first source: the one named in errors about the whole plan."""
        return self.plan[0]

    @property
    def pin(self) -> str | None:
        return self.request.sha256

    @property
    def md5(self) -> str | None:
        """The MD5 pin (MD5 is computed only when it is given)."""
        return self.request.md5

    @property
    def extract(self) -> bool:
        return self.request.extract


# ---------------------------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------------------------
def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def run(
    paths: DataPaths,
    request: DownloadRequest,
    *,
    progress: Progress | None = None,
    session: Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    drive_base: str | None = None,
    policy: RetryPolicy | None = None,
) -> DownloadResult:
    """Make the dataset available under ``paths`` (already opened: recovered first) as
    ``request`` asks (see the module docstring for the order): what :func:`download` runs,
    and ``PairDataset(download=True)``. The other arguments are the side effects, injected:
    ``session`` (HTTP), ``sleep`` and ``clock``, ``drive_base`` (where Google Drive is),
    ``policy`` (retries).

    ``request.cookies``: a Netscape cookies.txt whose Google cookies are sent to Drive (read
    once, never written; a bad file is a :class:`UsageError` before anything else happens).
    ``request.sources`` are tried in order (:mod:`lungsegdb_cli.sources.plan`), then the
    dataset's Drive file unless ``request.drive`` is False; ``storage_options`` go to the
    fsspec backend of ``s3://`` (...) sources; an MD5 pin is the only reason MD5 is computed."""
    t0 = clock()
    jar = None
    if request.cookies is not None:
        from lungsegdb_cli.sources.drive import cookies

        jar = cookies.load(request.cookies)
    plan = sources_mod.plan(list(request.sources), drive=request.drive, base=drive_base)
    op = _Op(paths, request, plan, progress)
    archive = request.archive
    if archive is not None and not archive.is_file():
        raise UsageError(f"Archive does not exist: {archive}", hint="Check the path.")
    ownership.check_places(paths, request, plan)
    if request.offline and archive is None and not paths.root.exists():
        from lungsegdb_cli.sources.failures import offline_error

        raise offline_error("the dataset is not here", paths, op.source)
    done = None
    if not request.force and paths.state_dir.is_dir():
        done = _up_to_date_as_reader(op)
    if done is None:
        from lungsegdb_cli.sources.fetch import Network
        from lungsegdb_cli.sources.http.transfer import RetryPolicy

        net = Network(
            session,
            sleep,
            clock,
            policy or RetryPolicy.asked(request.retries, request.timeout),
            cookies=jar,
            storage_options=dict(request.storage_options),
        )
        done = _download_as_writer(op, net)
    done.elapsed = clock() - t0
    return done


def _download_as_writer(op: _Op, net: Network) -> DownloadResult:
    """Everything after the reader's check, under the writer lock: check again (another run
    may have finished meanwhile), then get the archive, extract it, and commit it all."""
    from lungsegdb_cli.sources.http.resume import discard_other_parts
    from lungsegdb_cli.sources.http.transfer import discard_part

    paths, request = op.paths, op.request
    with commit.writing(paths) as waited:
        here = Here.look(paths, op.extract, force=request.force)
        done = None if request.force else _up_to_date(op, here)
        if done is not None:
            done.waited_for_lock = waited
            return done
        if op.extract:  # before anything is fetched: no file of the user's goes with the tree
            from lungsegdb_cli.archive.extract import check_replaceable

            check_replaceable(paths)
        with commit.Transaction(paths) as txn:
            kept = not request.force and op.extract and here.kept_matches(op.pin, op.md5)
            if request.archive is not None:
                result = _from_local(txn, op, request.archive)
            elif request.offline or kept:
                # a kept archive (say, the extraction failed or the tree was deleted) is reused
                result = _from_kept(op, here)
            else:
                result = _from_network(txn, op, here, net)
            result.waited_for_lock = waited
            if op.extract:
                _stage_extraction(txn, op, result)
            if result.read_from is not None and result.read_from.name.endswith(".part"):
                from lungsegdb_cli.sources.http.resume import state_path

                # the resume sidecar goes at the same commit as its .part is renamed: a kill
                # after it leaves no sidecar of a partial download that no longer exists
                txn.remove(state_path(result.read_from))
            commit.checkpoint("download staged")
            txn.commit()
        if (left := txn.left_behind_note()) is not None:
            note(op.progress, left)
        if result.read_from is not None and result.read_from.name.endswith(".part"):
            discard_part(result.read_from)  # committed under its final name: only the sidecar
        # the partial downloads of other sources (another URL, an earlier run) go: nothing
        # would ever resume them, and a cached data dir must not carry them
        for name in discard_other_parts(paths.downloads_dir):
            note(op.progress, f"removed the stale partial download {name}")
    return result


def _stage_extraction(txn: commit.Transaction, op: _Op, result: DownloadResult) -> None:
    """Stage the tree extracted from the archive ``result`` describes into ``txn``: planned
    by :mod:`~lungsegdb_cli.archive.extract`, the files written by the extraction's writer
    and the manifest staged through the transaction here."""
    from lungsegdb_cli.archive import extract as extract_mod
    from lungsegdb_cli.archive.extract_write import write_tree

    assert result.archive is not None and result.read_from is not None
    paths = op.paths
    try:
        with extract_mod.staging(
            txn,
            paths,
            result.read_from,
            progress=op.progress,
            archive_sha256=str(result.archive.sha256),
        ) as stage:
            total = write_tree(stage.plan, stage.folder, stage.progress, stage.workers)
            # no file of the user's goes with a tree lungsegdb did not write
            extract_mod.check_replaceable(paths, [e.path for e in total])
            sums, sizes = stage.manifest(total)
            txn.stage_bytes(paths.manifest, sums)
            txn.stage_bytes(paths.manifest_sizes, sizes)
            ex = stage.result(total)
    except ArchiveError as exc:
        part, final = result.read_from.name, result.archive.path.name
        if part != final:  # the user knows the archive by its name, not our partial file's
            exc.message = exc.message.replace(part, final)
            exc.args = (exc.message,)
        moved = _reject_unusable(op.paths, result)
        if moved is not None:
            exc.message += f"; the archive was moved aside to {moved}"
            exc.args = (exc.message,)
            exc.context["rejected"] = str(moved)
        raise
    ex.archive = result.archive.path  # committed under this name: the partial file is gone
    result.extract = ex
    result.files = ex.files
    result.extracted = True
    result.manifest = str(paths.manifest)


def _reject_unusable(paths: DataPaths, result: DownloadResult) -> Path | None:
    """Move an archive of ours that cannot be extracted to ``<name>.rejected``, so the next
    run fetches it afresh instead of failing on the same bytes (the user's own file stays)."""
    from lungsegdb_cli.sources.http.transfer import discard_part

    src = result.read_from
    if src is None or src.parent != paths.downloads_dir or result.action == ACTION_LOCAL:
        return None
    name = result.archive.path.name if result.archive else src.name
    rejected = paths.downloads_dir / f"{name}.rejected"
    try:
        os.replace(src, rejected)
    except OSError:
        return None
    from lungsegdb_cli.state import rejected as rejected_record

    rejected_record.note(paths, rejected)
    if src.name.endswith(".part"):
        discard_part(src)
    return rejected


def _up_to_date_as_reader(op: _Op) -> DownloadResult | None:
    """The nothing-to-do check without the writer lock (works on a read-only data dir). A
    half-done commit is rolled forward first (by :func:`commit.reading`)."""
    try:
        with commit.reading(op.paths):
            return _up_to_date(op, Here.look(op.paths, op.extract))
    except LocalError as exc:
        if commit.is_read_only(exc):
            return None  # the writer's path below reports what cannot be written
        raise


def _up_to_date(op: _Op, here: Here) -> DownloadResult | None:
    """The result when there is nothing to do (the tree -- or, without extraction, the kept
    archive -- is here and is the pinned one), else None."""
    paths, pin = op.paths, op.pin
    if op.extract:
        if here.files is None or (
            pin and not tree_origin(paths, here.record, sidecar=here.sidecar).matches(pin)
        ):
            return None
        if op.md5 and (here.record is None or (here.record.md5 or "").lower() != op.md5):
            return None
    elif not here.kept_matches(pin, op.md5):
        return None
    # a discarded archive is still recorded: where it was and what it was (archive_kept False)
    where = here.kept or (here.record.archive_path(paths.root) if here.record else None)
    return DownloadResult(
        dataset_dir=paths.dataset_dir,
        archive=ArchiveRecord.of(here.record, where) if here.record and where else None,
        files=here.files,
        source=SourceRecord.recorded(here.record, op.source),
        action=ACTION_UP_TO_DATE,
        extracted=False,
        pinned=pin is not None,
        manifest=str(paths.manifest) if paths.manifest.is_file() else None,
    )


def _from_local(txn: commit.Transaction, op: _Op, archive: Path) -> DownloadResult:
    from lungsegdb_cli.sources.fetch import EXTRACT_FACTOR
    from lungsegdb_cli.sources.localfile import digest_archive

    paths, pin = op.paths, op.pin
    archive = archive.absolute()
    size = archive.stat().st_size
    if op.extract:
        fsutil.check_free_space(
            paths.root, int(size * EXTRACT_FACTOR), "extracting the archive", at_least=True
        )
    digests = digest_archive(archive, pin=pin, md5=op.md5, progress=op.progress)
    record = Provenance(
        path=record_path(archive, paths.root),
        size=digests.size,
        sha256=digests.sha256,
        md5=digests.md5,
        source=archive.as_uri(),
        tool_version=__version__,
        time=_now(),
        pinned=pin is not None,
        # written as null; no final_url
        nulls=frozenset({"drive_id", "link", "client", "md5", "source_sha256"}),
    )
    txn.stage_bytes(paths.provenance, record.to_json().encode("utf-8"))
    at = record.archive_path(paths.root) or archive
    return _finish(op, record, ACTION_LOCAL, at=at, read_from=archive)


def _from_kept(op: _Op, here: Here) -> DownloadResult:
    from lungsegdb_cli.sources.failures import offline_error

    if op.extract and here.kept_matches(op.pin, op.md5):
        assert here.record is not None and here.kept is not None
        return _finish(op, here.record, ACTION_KEPT, at=here.kept, read_from=here.kept)
    why = "the dataset is not here"
    if here.kept is not None and not here.kept_matches(op.pin, op.md5):
        why = f"the kept archive {here.kept} does not match the pinned checksum"
    raise offline_error(why, op.paths, op.source)


def _from_network(txn: commit.Transaction, op: _Op, here: Here, net: Network) -> DownloadResult:
    paths = op.paths
    tried: list[Source] = []

    plan = op.plan or (op.source,)
    # the pinned archive's size caps every transfer when the provenance (read once, under
    # this lock) records an archive with that SHA-256
    record = here.record
    same = op.pin and record is not None and (record.sha256 or "").lower() == op.pin
    pinned_size = record.size if same and record is not None else None

    # each source in turn, fetched here (the plan keeps the score, it calls nothing back)
    tries = sources_mod.Failover(plan, op.progress)
    for source in tries:
        if op.pin and tried:  # under one pin, a part the last source left is resumed
            sources_mod.adopt_part(paths.downloads_dir, tried[-1], source)
        tried.append(source)
        # a source with others after it gets a short retry budget: a dead mirror costs
        # seconds, not the minute of back-off the last source may spend
        last = source is plan[-1]
        via = net if last else replace(net, policy=sources_mod.failover_policy(net.policy))
        try:
            got = _fetch(op, source, via, pinned_size)
        except tries.failures as exc:
            tries.failed(source, exc)  # the only source: raises exc itself
            continue
        break
    else:
        raise tries.error()  # every source failed
    attempts = tries.served(source)
    # only an archive the tool fetched: one given with --archive FILE is the user's, also in
    # downloads/ (ownership from the record, not the location)
    old = here.record.owned_archive(paths.root, paths.downloads_dir) if here.record else None
    final = ownership.free_name(got.final, old)
    if final != got.final:
        note(op.progress, f"{got.final} is not lungsegdb's: the archive is kept as {final.name}")
    # The finished .part becomes the kept archive at the commit, its resume sidecar goes, and
    # so does an older archive of another name; until then all of it stays as it is.
    txn.stage_file(final, got.part)
    if old is not None and old != final and old.parent == paths.downloads_dir:
        txn.remove(old)
    _drop_rejected(txn, op, attempts)
    res = got.result
    record = Provenance(
        path=record_path(final, paths.root),
        size=res.size,
        sha256=res.sha256,
        md5=res.md5,
        source=source.shown,
        source_sha256=source.url_sha256,  # the full URL is recognised by it, never stored
        final_url=sources_mod.redact(res.url),
        drive_id=source.drive_id,
        link=source.link,
        tool_version=__version__,
        time=_now(),
        pinned=op.pin is not None,
        client=got.client,
        name=got.final.name if final != got.final else None,
        nulls=frozenset(FIELDS),  # every field is written, null or not
    )
    txn.stage_bytes(paths.provenance, record.to_json().encode("utf-8"))
    result = _finish(op, record, ACTION_DOWNLOADED, at=final, read_from=got.part)
    result.resumed_from = res.resumed_from
    result.client = got.client
    result.restarts = res.restarts
    result.retries = list(res.retries)
    result.sources = attempts
    return result


def _fetch(op: _Op, source: Source, net: Network, pinned_size: int | None) -> Fetched:
    """``source``'s archive into its ``.part``: :mod:`~lungsegdb_cli.sources.fetch` prepares
    the transfer (space, bounds, session, the transport of the URL's scheme) and checks the
    pins afterwards; the call that writes the bytes is made here (pooch's ``retrieve``
    calling the downloader ``choose_downloader`` gave it)."""
    from lungsegdb_cli.sources import fetch

    with fetch.prepare(
        op.paths,
        source,
        op.pin,
        extract=op.extract,
        progress=op.progress,
        net=net,
        md5=op.md5,
        pinned_size=pinned_size,
    ) as job:
        call = job.call
        try:
            res, client = call.run(source.url, job.part, **call.kwargs), fetch.CLIENT
        except call.handed_on as exc:  # a Drive page our parser cannot follow: gdown's go
            from lungsegdb_cli.sources.drive.gdown import CLIENT as GDOWN

            res, client = job.second_client(exc), GDOWN
    return job.finish(res, client)


def _drop_rejected(
    txn: commit.Transaction, op: _Op, attempts: Sequence[sources_mod.Attempt]
) -> None:
    """Bytes an earlier source of this run sent that contradicted the pin were moved aside
    (``<name>.rejected``, for a look when every source fails). A later source served the
    pinned archive, so they go with this commit: a cached data dir must not carry a GB of
    known-wrong bytes. A ``.rejected`` of an earlier run is left alone."""
    seen: set[Path] = set()
    for attempt in attempts:
        if attempt.rejected is None:
            continue
        path = Path(attempt.rejected)
        if path in seen or path.parent != op.paths.downloads_dir:
            continue
        seen.add(path)
        txn.remove(path)
        note(op.progress, f"{path.name} (not the pinned archive) is removed with this commit")


def _finish(
    op: _Op, record: Provenance, action: str, *, at: Path, read_from: Path
) -> DownloadResult:
    """The result of a run that extracts (or keeps) the archive at ``at``, read from
    ``read_from`` during the run, that ``record`` describes."""
    from lungsegdb_cli.sources.failures import pin_hint

    request = op.request
    hint = (
        None
        if op.pin
        else pin_hint(
            request.command(str(record.sha256)), storage_options=bool(request.storage_options)
        )
    )
    return DownloadResult.of_record(
        op.paths.dataset_dir,
        record,
        action,
        at=at,
        read_from=read_from,
        pinned=op.pin is not None,
        pin_hint=hint,
    )
