"""The operations that bring the dataset onto the machine and out again: :func:`download`,
:func:`extract` and :func:`publish`.

``download`` is :func:`lungsegdb_cli.sources.download.download` itself, handed out here: the
public function is the operation, which runs its steps itself (its arguments checked, the
request built, the data dir opened through the one door), and it lives in ``sources/``
because ``PairDataset(download=True)`` (:mod:`lungsegdb_cli.training.ensure`, a layer below
this one) runs it too. See :mod:`lungsegdb_cli.api` for what every operation shares.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.archive.extract import ExtractResult
    from lungsegdb_cli.sources.publish import PublishResult
    from lungsegdb_cli.utils.progress import Progress

from lungsegdb_cli.api.common import PathLike, data_paths
from lungsegdb_cli.sources.download import download

__all__ = ["download", "extract", "publish"]


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
