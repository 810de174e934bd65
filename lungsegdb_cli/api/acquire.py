"""The operations that bring the dataset onto the machine and out again: :func:`download`,
:func:`extract` and :func:`publish`.

See :mod:`lungsegdb_cli.api` for what every operation shares.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.archive.extract import ExtractResult
    from lungsegdb_cli.sources.download import DownloadResult
    from lungsegdb_cli.sources.publish import PublishResult
    from lungsegdb_cli.sources.request import DownloadRequest
    from lungsegdb_cli.utils.progress import Progress

from lungsegdb_cli.api.common import PathLike, data_paths


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
    from lungsegdb_cli.sources import download as _download

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
    from lungsegdb_cli.sources.request import DownloadRequest, with_environment

    if request is None:
        request = DownloadRequest.build(**with_environment(options))
    elif not isinstance(request, DownloadRequest):
        from lungsegdb_cli.errors import UsageError

        raise UsageError(
            f"request must be a DownloadRequest, not {type(request).__name__}",
            hint="Build it with DownloadRequest.build(...), or give the options themselves.",
            argument="request",
        )
    elif any(v != _DEFAULTS[k] for k, v in options.items()):
        from lungsegdb_cli.errors import UsageError

        given = sorted(k for k, v in options.items() if v != _DEFAULTS[k])
        raise UsageError(
            f"download(request=...) takes no other download options (got {', '.join(given)})",
            hint="Put them in the request: DownloadRequest.build(...).",
        )
    paths = data_paths(data_dir)
    result = _download.download(paths, request, progress=progress)
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


#: the defaults of :func:`download`'s request options (given with ``request=``: a UsageError)
_DEFAULTS: dict[str, Any] = {
    "urls": None,
    "url": None,
    "drive": True,
    "archive": None,
    "sha256": None,
    "md5": None,
    "require_pin": None,
    "keep_archive": True,
    "offline": None,
    "force": False,
    "extract": True,
    "cookies": None,
    "storage_options": None,
    "retries": None,
    "timeout": None,
}


def extract(
    data_dir: PathLike | None = None,
    *,
    archive: PathLike | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> ExtractResult:
    """Extract an archive (default: the one ``download`` kept) into the documented tree.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root.
    archive : str or os.PathLike, optional
        The archive (zip, tar, tar.gz/.bz2/.xz; 7z and RAR with an extra).
    force : bool
        Extract again even if the tree is complete and intact.
    progress : Progress, optional
        Receives progress calls.

    Returns
    -------
    ExtractResult
        ``files``, ``bytes``, ``manifest``, ``mapped`` folder names, ``missing`` groups,
        ``already`` (True when nothing needed doing).

    Raises
    ------
    UsageError
        No archive given and none kept, or a bad ``LUNGSEGDB_MAX_BYTES`` / ``_MAX_FILES`` /
        ``_MAX_RATIO`` / ``LUNGSEGDB_WORKERS`` value, also when the tree is already there
        (exit 2).
    ArchiveError
        Corrupt, unsafe, or no LungSegDB tree in it (exit 4).
    LocalError
        Not enough disk space, permission denied (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/synth", pairs=1)
    >>> L.extract(tmp + "/data", archive=made.archive.path).files
    8
    >>> work.cleanup()
    """
    from lungsegdb_cli.archive import extract as _extract
    from lungsegdb_cli.utils import envvars

    # The caps and the thread count, read before anything (also when the tree is there).
    envvars.check([*envvars.EXTRACT, *envvars.WORKERS, envvars.LOCK])
    paths = data_paths(data_dir, writing=True)
    if archive is None:
        return _extract.extract_recorded(paths, force=force, progress=progress)
    return _extract.extract_archive(paths, Path(archive), force=force, progress=progress)


def publish(
    dest: PathLike,
    data_dir: PathLike | None = None,
    *,
    sha256: str | None = None,
    storage_options: Mapping[str, Any] | Sequence[str] | None = None,
    progress: Progress | None = None,
    export: PathLike | None = None,
) -> PublishResult:
    """Upload the verified archive, its manifest and ``lungsegdb.json`` to a mirror.

    Parameters
    ----------
    dest : str or os.PathLike
        Any fsspec URL (``s3://bucket/prefix``, ``gs://``, ``az://``, ``hf://``,
        ``file://``) or a local folder. Each object is uploaded to a temporary key under
        ``dest`` and then moved to its final key; ``lungsegdb.json`` goes last.
    data_dir : str or os.PathLike, optional
        The data root holding the downloaded archive and tree.
    sha256 : str, optional
        The pin the archive must match (default ``$LUNGSEGDB_SHA256``, else its recorded
        SHA-256).
    storage_options : mapping or list of str, optional
        Keyword arguments of the fsspec backend, or the ``--storage-option`` ``KEY=VALUE``
        strings (as ``download()`` takes them). Never printed or recorded.
    progress : Progress, optional
        Receives progress calls.
    export : str or os.PathLike, optional
        An export folder (``export webdataset OUT``, ``export hf OUT``, any format) that goes
        to ``dest/<its folder name>/`` too, its index (``shards.json``, the card) last; it
        must still match its record (``verify-export``), checked before anything is uploaded.

    Returns
    -------
    PublishResult
        The uploaded URLs, ``sha256``, ``size``, ``files``, ``counts`` and ``command`` (the
        ``lungsegdb download --url ... --sha256 ...`` line the fleet should run); ``export``
        (``url``, ``files``, ``bytes``, ``index``) when one was given.

    Raises
    ------
    UsageError
        Nothing downloaded, the archive was not kept, or a ``dest`` that is refused before
        anything is read or written (exit 2): empty, a URL that cannot name a folder (as
        ``download --url`` checks it, a ``file://`` host included), a file, the data dir or
        inside its tree, manifest, state or downloads folder, or in or holding ``export``.
    CheckFailed
        The archive, the tree or the export does not verify (exit 1); nothing was uploaded.
    DownloadError
        An upload failed (exit 3).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/synth", pairs=1)
    >>> _ = L.download(tmp + "/data", archive=made.archive.path)
    >>> L.publish(tmp + "/mirror", tmp + "/data").files
    8
    >>> work.cleanup()
    """
    from lungsegdb_cli.sources import publish as _publish
    from lungsegdb_cli.sources.request import parse_storage_options, sha256_pin

    pin = sha256_pin(sha256)  # malformed: UsageError (exit 2) before a byte is read
    if storage_options is not None and not isinstance(storage_options, Mapping):
        # the --storage-option KEY=VALUE strings, as download() takes them
        storage_options = parse_storage_options(list(storage_options))
    dest = os.fspath(dest)
    paths = data_paths(data_dir, must_exist=True)
    _publish.check_dest(dest, paths, export=export)  # before anything is read or written
    if export is not None:  # checked before anything is uploaded
        from lungsegdb_cli.api.handoff import export_files

        names = export_files(export)
    result = _publish.publish(
        paths,
        dest,
        sha256=pin,
        storage_options=storage_options,
        progress=progress,
    )
    if export is not None:
        from lungsegdb_cli.sources.upload import upload_files

        folder = Path(export).absolute()
        result.export = upload_files(
            dest,
            folder,
            names,
            prefix=folder.name,
            storage_options=storage_options,
            progress=progress,
        )
    return result
