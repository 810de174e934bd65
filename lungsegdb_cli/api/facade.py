"""The public operations of lungsegdb, as :mod:`lungsegdb_cli` exports them.

Every operation takes ``data_dir`` first (a data root holding ``LungSegDB/``, the LungSegDB
folder itself, or None for ``$LUNGSEGDB_HOME`` and then the user cache dir -- the same order as
the command line's ``--data-dir``), keyword-only options, and ``progress=`` (an object with
``start``/``advance``/``done``; default: silent). Each returns a typed result with ``ok`` and
``to_dict()`` (the command's ``--json`` document) and raises a
:class:`~lungsegdb_cli.errors.LungSegDBError` subclass, whose ``exit_code`` is the command's.

Nothing heavy is imported until an operation runs (numpy, requests, tifffile). The module is
long (~500 lines) only because each operation carries its full numpydoc docstring; the code
is a few lines per operation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.archive.extract import ExtractResult
    from lungsegdb_cli.checks.info import InfoResult
    from lungsegdb_cli.checks.stats import StatsResult
    from lungsegdb_cli.checks.validate import ValidateResult
    from lungsegdb_cli.checks.verify import VerifyResult
    from lungsegdb_cli.dataset.paths import DataPaths
    from lungsegdb_cli.sources.download import DownloadResult
    from lungsegdb_cli.sources.publish import PublishResult
    from lungsegdb_cli.synthetic.make import SynthResult
    from lungsegdb_cli.training.export.check import ExportCheckResult
    from lungsegdb_cli.training.export.run import ExportResult
    from lungsegdb_cli.training.pairs import Pair
    from lungsegdb_cli.training.preview import PreviewResult
    from lungsegdb_cli.training.split import SplitResult
    from lungsegdb_cli.utils.progress import Progress

PathLike = str | os.PathLike[str]


def _paths(data_dir: PathLike | None, *, must_exist: bool = False) -> DataPaths:
    """Every operation's data dir, recovered first (a commit a killed writer left half-done
    is finished before anything is read or written): :mod:`lungsegdb_cli.state.datadir`."""
    from lungsegdb_cli.state.datadir import open_data_dir

    return open_data_dir(data_dir, must_exist=must_exist)


def download(
    data_dir: PathLike | None = None,
    *,
    url: str | None = None,
    archive: PathLike | None = None,
    sha256: str | None = None,
    offline: bool = False,
    force: bool = False,
    extract: bool = True,
    progress: Progress | None = None,
    cookies: PathLike | None = None,
    require_pin: bool = False,
    keep_archive: bool = True,
    urls: Sequence[str] | None = None,
    drive: bool = True,
    storage_options: Mapping[str, Any] | None = None,
    md5: str | None = None,
) -> DownloadResult:
    """Get LungSegDB into ``data_dir``: fetch, check the SHA-256, extract, write the manifest.

    A re-run on a complete, intact tree does nothing (no network). Everything changes at one
    crash-safe commit: a run that fails or is killed leaves the previous state.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root (default: ``$LUNGSEGDB_HOME``, else the user cache dir).
    url : str, optional
        A Google Drive link in any form, or any http(s) mirror. Default: the dataset's Drive file.
    archive : str or os.PathLike, optional
        A file downloaded by hand: hashed, checked and extracted; no network.
    sha256 : str, optional
        The pin: the archive must have this SHA-256, and the tree must come from it.
    offline : bool
        Never touch the network.
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
    require_pin : bool
        Refuse to run without ``sha256`` (a :class:`UsageError`, exit 2, before anything is
        read or fetched): CI never downloads unpinned data by accident.
    keep_archive : bool
        False: once the tree is extracted and intact, delete the archive from
        ``<root>/downloads`` and record that it was discarded by choice (``verify`` then
        checks the tree only). A file given as ``archive`` is never deleted.
    urls : sequence of str, optional
        Ordered sources, tried in turn under the one pin: Google Drive links, http(s)
        mirrors, or fsspec URLs (``s3://``, ``gs://``, ``az://``, ``hf://``, ``file://``;
        the backends are extras). Then the dataset's Drive file, unless ``drive`` is False.
        Each failure is recorded in ``result.sources`` and the next source is tried.
    drive : bool
        With ``urls``: False leaves the dataset's Drive file out (``--no-drive``).
    storage_options : mapping, optional
        Keyword arguments of the fsspec backend (``--storage-option KEY=VALUE``). Never
        printed or recorded.
    md5 : str, optional
        A second pin: the archive's MD5 (32 hex digits, Google Drive's own checksum). Without
        it no MD5 is computed (``archive.md5`` is None).

    Returns
    -------
    DownloadResult
        ``action`` (``up-to-date``, ``downloaded``, ``local-archive``, ``kept-archive``),
        ``archive`` (path, sha256, size), ``files``, ``source``, ``archive_kept`` (whether
        the archive is still there after the run).

    Raises
    ------
    UsageError
        ``require_pin`` without ``sha256``, or ``keep_archive=False`` with ``extract=False``
        (exit 2).
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
    >>> tmp = tempfile.mkdtemp()
    >>> made = L.synth(tmp + "/synth", pairs=2)
    >>> got = L.download(tmp + "/data", archive=made.archive.path, sha256=made.archive.sha256)
    >>> got.action, got.files
    ('local-archive', 16)
    >>> L.download(tmp + "/data", sha256=made.archive.sha256, offline=True).action
    'up-to-date'
    """
    from lungsegdb_cli.sources import discard as _discard
    from lungsegdb_cli.sources import download as _download
    from lungsegdb_cli.sources import pinning as _pinning

    if require_pin:
        _pinning.require(sha256)
    if not keep_archive:
        _discard.check_extracting(extract)
    paths = _paths(data_dir)
    result = _download.download(
        paths,
        url=url,
        archive=None if archive is None else Path(archive),
        sha256=sha256,
        offline=offline,
        force=force,
        extract=extract,
        progress=progress,
        cookies=None if cookies is None else Path(cookies),
        urls=None if urls is None else list(urls),
        use_drive=drive,
        storage_options=storage_options,
        md5=md5,
    )
    if not keep_archive:
        _discard.discard_archive(paths)
    result.archive_kept = result.archive is not None and Path(result.archive.path).is_file()
    return result


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
        No archive given and none kept (exit 2).
    ArchiveError
        Corrupt, unsafe, or no LungSegDB tree in it (exit 4).
    LocalError
        Not enough disk space, permission denied (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> tmp = tempfile.mkdtemp()
    >>> made = L.synth(tmp + "/synth", pairs=1)
    >>> L.extract(tmp + "/data", archive=made.archive.path).files
    8
    """
    from lungsegdb_cli.archive import extract as _extract

    paths = _paths(data_dir)
    source = Path(archive) if archive is not None else _extract.archive_to_extract(paths)
    return _extract.extract_archive(paths, source, force=force, progress=progress)


def verify(
    data_dir: PathLike | None = None,
    *,
    sha256: str | None = None,
    quick: bool = False,
    progress: Progress | None = None,
) -> VerifyResult:
    """Check the kept archive and every file of the tree against the manifest.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root, or the LungSegDB folder itself.
    sha256 : str, optional
        A pin (else the archive's recorded checksum is the reference): the kept archive must
        match it and the tree be recorded as extracted from it, else ``ok`` is False with
        ``tree_problem`` set.
    quick : bool
        Presence and sizes only; no file is read.
    progress : Progress, optional
        Receives progress calls.

    Returns
    -------
    VerifyResult
        ``ok``, ``missing``, ``modified``, ``extra``, ``archive`` (the archive's check).

    Raises
    ------
    NothingToVerify
        No manifest and no archive (exit 3).
    CheckFailed
        A manifest that cannot be trusted (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> tmp = tempfile.mkdtemp()
    >>> made = L.synth(tmp + "/synth", pairs=1)
    >>> _ = L.download(tmp + "/data", archive=made.archive.path)
    >>> result = L.verify(tmp + "/data")
    >>> result.ok, result.checked, result.modified
    (True, 8, [])
    """
    from lungsegdb_cli.checks import verify as _verify

    return _verify.verify(
        _paths(data_dir, must_exist=True), sha256=sha256, quick=quick, progress=progress
    )


def validate(
    data_dir: PathLike | None = None,
    *,
    strict: bool = False,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> ValidateResult:
    """Every image has its mask, each is readable, shapes agree, masks are sane.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root, the LungSegDB folder, or any folder laid out like it.
    strict : bool
        Warnings fail too (``ok`` is False).
    use_cache : bool
        Reuse the decode cache (summaries of files decoded before, keyed on path, size and
        mtime); False decodes every file (``--no-cache``).
    progress : Progress, optional
        Receives progress calls.

    Returns
    -------
    ValidateResult
        ``ok``, ``pairs``, ``findings`` (code, severity, path, message), ``groups``.

    Raises
    ------
    CheckFailed
        There is no tree at all (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> tmp = tempfile.mkdtemp()
    >>> made = L.synth(tmp + "/synth", pairs=1, fmt="none")
    >>> report = L.validate(made.tree)
    >>> report.ok, report.pairs, report.errors
    (True, 4, 0)
    """
    from lungsegdb_cli.checks import validate as _validate

    return _validate.validate(
        _paths(data_dir, must_exist=True), strict=strict, use_cache=use_cache, progress=progress
    )


def stats(
    data_dir: PathLike | None = None,
    *,
    variant: str | None = None,
    version: str | None = None,
    csv: PathLike | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> StatsResult:
    """Per group (variant x version): pairs, shapes, dtypes, exact intensity moments, mask
    foreground fractions, bytes.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root, the LungSegDB folder, or any folder laid out like it.
    variant : str, optional
        ``preprocessed`` or ``raw`` (default: both).
    version : str, optional
        ``V1`` or ``V2`` (default: both).
    csv : str or os.PathLike, optional
        Also write one row per group to this CSV file.
    use_cache : bool
        Reuse the decode cache shared with :func:`validate` (False: ``--no-cache``).
    progress : Progress, optional
        Receives progress calls.

    Returns
    -------
    StatsResult
        ``groups`` (:class:`GroupStats` each) and totals; ``to_dict()["groups"]`` is a list of
        flat-enough dicts for ``pandas.json_normalize``.

    Raises
    ------
    CheckFailed
        No tree, or an image over the decode limit (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> tmp = tempfile.mkdtemp()
    >>> made = L.synth(tmp + "/synth", pairs=1, fmt="none")
    >>> doc = L.stats(made.tree, version="V1").to_dict()
    >>> [(g["variant"], g["version"], g["pairs"]) for g in doc["groups"]]
    [('preprocessed data', 'V1', 1), ('raw data', 'V1', 1)]
    """
    from lungsegdb_cli.checks import stats as _stats

    return _stats.compute(
        _paths(data_dir, must_exist=True),
        variant=variant,
        version=version,
        csv=None if csv is None else Path(csv),
        use_cache=use_cache,
        progress=progress,
    )


def info(data_dir: PathLike | None = None) -> InfoResult:
    """What the dataset is (source, citation, licence, counts) and the local state.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root.

    Returns
    -------
    InfoResult
        ``data_dir``, ``dataset_dir``, ``archive``, ``manifest``, ``state`` (``empty``,
        ``downloaded``, ``extracted``, ``unmanaged``), ``pin`` (the recorded SHA-256 to pin in
        CI), ``tree_archive_sha256``; ``to_dict()`` adds the dataset card (source, citation,
        licence, counts).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> L.info(tempfile.mkdtemp()).state
    'empty'
    >>> L.info(tempfile.mkdtemp()).to_dict()["dataset"]["published_pairs"]
    {'V1': 1800, 'V2': 700}
    """
    from lungsegdb_cli.checks import info as _info

    return _info.collect(_paths(data_dir))


def synth(
    out: PathLike,
    *,
    pairs: int | None = None,
    scale: float | None = None,
    seed: int = 0,
    fmt: str = "zip",
    wrap: str | None = None,
    defects: bool = False,
    progress: Progress | None = None,
) -> SynthResult:
    """Write a synthetic LungSegDB-shaped tree (and archive) into ``out``, for tests and CI.

    Parameters
    ----------
    out : str or os.PathLike
        The folder to write (created; must be empty or an earlier synth output).
    pairs : int, optional
        Pairs per group (default: the published counts scaled by ``scale``).
    scale : float, optional
        Fraction of the published counts (1.0: 10,000 files).
    seed : int
        Same seed, byte-identical output.
    fmt : str
        ``zip``, ``tar.gz`` or ``none`` (no archive).
    wrap : str, optional
        Put the tree under these folders inside the archive (e.g. ``A/B``), as hand-made
        archives often do.
    defects : bool
        Plant one of each defect ``validate`` reports (listed in ``defects.json``).
    progress : Progress, optional
        Receives progress calls.

    Returns
    -------
    SynthResult
        ``tree``, ``archive`` (path, sha256, size) or None, ``files``, ``defects``.

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> made = L.synth(tempfile.mkdtemp() + "/s", pairs=1)
    >>> made.files, made.archive.path.name
    (8, 'LungSegDB.zip')
    """
    from lungsegdb_cli.synthetic import make as _synth

    return _synth.synthesize(
        Path(out),
        pairs=pairs,
        scale=scale,
        seed=seed,
        fmt=fmt,
        wrap=wrap,
        defects=defects,
        progress=progress,
    )


def pairs(
    data_dir: PathLike | None = None,
    *,
    variant: str | None = None,
    version: str | None = None,
    split: str | None = None,
) -> list[Pair]:
    """Every image/mask pair of the tree, as frozen :class:`Pair` records, in natural order.

    The pairing is the one ``validate`` checks (by stem); lone images and masks are left out.
    Load one with :func:`load_pair`, or iterate them with :class:`PairDataset`.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root, the LungSegDB folder, or any folder laid out like it.
    variant : str, optional
        ``preprocessed`` or ``raw`` (default: both).
    version : str, optional
        ``V1`` or ``V2`` (default: both).
    split : str, optional
        ``train``, ``val`` or ``test``: only the pairs of that split, from the splits file in
        force (``<state>/splits.json``, written by :func:`split`).

    Returns
    -------
    list of Pair
        ``stem``, ``image`` and ``mask`` (paths), ``variant``, ``version``, ``group`` (the
        group key: the stem, or the ``group_by`` capture of the splits in force) and ``split``
        (None unless a splits file is in force).

    Raises
    ------
    UsageError
        An unknown variant, version or split, or ``split`` without a splits file (exit 2).
    CheckFailed
        There is no tree at all (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> made = L.synth(tempfile.mkdtemp() + "/s", pairs=2, fmt="none")
    >>> found = L.pairs(made.tree, variant="raw", version="V1")
    >>> [(p.stem, p.version, p.image.name, p.split) for p in found]
    [('1', 'V1', '1.TIF', None), ('2', 'V1', '2.TIF', None)]
    >>> image, mask = L.load_pair(found[0])
    >>> image.shape == mask.shape, sorted(set(mask.ravel().tolist()))
    (True, [0, 1])
    """
    from lungsegdb_cli.training import pairs as _pairs

    return _pairs.collect(
        _paths(data_dir, must_exist=True), variant=variant, version=version, split=split
    ).pairs


def split(
    data_dir: PathLike | None = None,
    *,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    group_by: str | None = None,
    out: PathLike | None = None,
    stratify: str | None = None,
) -> SplitResult:
    r"""Assign every pair to train/val/test by a keyed hash of its group, write ``splits.json``.

    The key is ``version/stem`` (or ``version/<first capture of group_by>``), hashed with
    BLAKE2b keyed by ``seed``: the same inputs give a byte-identical file on every machine,
    adding or removing pairs never moves the others, a group never straddles splits, the
    preprocessed and raw copies of a slice land together.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root, the LungSegDB folder, or any folder laid out like it.
    ratios : tuple of 3 floats
        Train, val, test: positive, summing to 1 (within 1e-6).
    seed : int
        The hash key: another seed, another assignment.
    group_by : str, optional
        A regex whose first capture group (searched in the stem) is the group key, e.g.
        ``r"^(.*\D)\d+$"`` to keep the slices of one scan together. Default: the stem.
    out : str or os.PathLike, optional
        Write here instead of ``<state>/splits.json`` (the file :func:`pairs` reads).
    stratify : {"version"}, optional
        Meet the ratios within each version: the keyed hash orders each version's groups and
        the ratios cut that order by pair count. Adding pairs may then move the few groups
        next to a cut; without it, none move.

    Returns
    -------
    SplitResult
        ``path``, ``splits`` (split -> sorted ``variant/version/stem``), ``counts`` (pairs and
        groups per split per version), ``achieved()`` ratios, ``suggestion`` (a ``group_by``
        regex when many stems share a prefix before a trailing number).

    Raises
    ------
    UsageError
        Bad ratios, a bad regex, a stem ``group_by`` does not match, or an unknown
        ``stratify`` (exit 2).
    CheckFailed
        There is no tree at all (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> made = L.synth(tempfile.mkdtemp() + "/s", pairs=4, fmt="none")
    >>> result = L.split(made.tree, seed=0)
    >>> result.pairs, sorted(result.splits)
    (16, ['test', 'train', 'val'])
    >>> {p.split for p in L.pairs(made.tree)} <= {"train", "val", "test"}
    True
    """
    from lungsegdb_cli.training import split as _split

    return _split.make_splits(
        _paths(data_dir, must_exist=True),
        ratios=ratios,
        seed=seed,
        group_by=group_by,
        out=None if out is None else Path(out),
        stratify=stratify,
    )


def export(
    format: str,
    out: PathLike,
    data_dir: PathLike | None = None,
    *,
    split_file: PathLike | None = None,
    link: str = "hardlink",
    variant: str | None = None,
    dataset_id: int = 501,
    force: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the pairs, with their splits, in a training framework's layout, atomically.

    Images are hard-linked (no second copy; copied where a link is refused, e.g. OUT on
    another file system, and counted in ``placed["copy-fallback"]``); masks are rewritten as
    0/1 ``uint8`` where the format needs it. The export is built beside ``out`` and renamed
    into place; ``out/lungsegdb-export.json`` records what it was made from, for
    :func:`check_export`. See docs/export.md for each layout.

    Parameters
    ----------
    format : str
        ``nnunet`` (an nnU-Net v2 raw dataset per variant), ``monai`` (a Decathlon-style
        datalist per variant), ``folders`` (``{split}_images/`` + ``{split}_masks/`` per
        variant) or ``csv`` (``pairs.csv``, one row per pair).
    out : str or os.PathLike
        The export folder: absent, empty, or (with ``force``) a previous export.
    data_dir : str or os.PathLike, optional
        The data root, the LungSegDB folder, or any folder laid out like it.
    split_file : str or os.PathLike, optional
        A splits file (``lungsegdb split --out``). Default: the splits in force, else the
        default split made now (``made_default_split`` says so).
    link : str
        ``hardlink`` (default), ``symlink`` or ``copy``.
    variant : str, optional
        ``preprocessed`` or ``raw`` (default: both, each in its own folder).
    dataset_id : int
        nnU-Net only: the dataset id of the preprocessed variant (raw: id + 1); with
        ``variant``, the id of that one dataset.
    force : bool
        Replace a previous export at ``out`` (atomically), and nothing else.
    progress : object, optional
        ``start``/``advance``/``done``; default silent.

    Returns
    -------
    ExportResult
        ``out``, ``counts`` (pairs per split), ``datasets``, ``placed`` (files per way of
        placing), ``splits_source`` (``file``, ``in-force`` or ``default``), ``record``.

    Raises
    ------
    UsageError
        Unknown format, link or variant; a non-empty ``out`` without ``force``; with
        ``force``, an ``out`` that is not an intact previous export holding only what it made;
        ``out`` a symlink or overlapping the tree; a missing ``split_file`` (exit 2).
    CheckFailed
        No tree; a splits file from another manifest or not covering the pairs; a file that
        cannot be decoded; a manifest that is not a regular file (exit 1).
    LocalError
        Another export is writing ``out`` (kind ``out-busy``); ``out`` changed during the
        export (``out-changed``: left as it is, nothing deleted); disk full or another write
        the machine refused (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> tmp = tempfile.mkdtemp()
    >>> made = L.synth(tmp + "/s", pairs=2, fmt="none")
    >>> result = L.export("folders", tmp + "/out", made.tree)
    >>> result.made_default_split, sorted(result.datasets)
    (True, ['preprocessed', 'raw'])
    >>> L.check_export(tmp + "/out").ok
    True
    """
    from lungsegdb_cli.training.export import run as _export

    return _export.export(
        _paths(data_dir, must_exist=True),
        format,
        Path(out),
        split_file=None if split_file is None else Path(split_file),
        link=link,
        variant=variant,
        dataset_id=dataset_id,
        force=force,
        progress=progress,
    )


def check_export(out: PathLike) -> ExportCheckResult:
    """Does the export at ``out`` still match what it was made from?

    Checks, from ``out/lungsegdb-export.json``: the tree's manifest SHA-256, the splits
    file's SHA-256, every exported file (present, recorded size; a hard link still shares
    its tree file's inode), every tree file it came from (size, mtime), and that nothing was
    added. What ``lungsegdb verify-export OUT`` and ``lungsegdb export --check OUT`` run.

    Returns
    -------
    ExportCheckResult
        ``ok``, ``manifest`` and ``splits`` (recorded, current, ok), ``missing``,
        ``changed``, ``source_changed``, ``extra``.

    Raises
    ------
    UsageError
        ``out`` is not an export (exit 2).
    CheckFailed
        Its record cannot be read (exit 1).
    """
    from lungsegdb_cli.training.export import check as _export_check

    return _export_check.check(Path(out))


def preview(
    out: PathLike,
    data_dir: PathLike | None = None,
    *,
    n: int = 8,
    split: str | None = None,
    findings: bool = False,
    progress: Progress | None = None,
) -> PreviewResult:
    """Write a PNG montage of slices with their mask outline drawn on them, to eyeball.

    A row per variant x version with pairs, up to ``n`` pairs each, evenly spaced over the
    group in natural order (the same pairs every run). Every slice is scaled to fit a 256-px
    tile and the border of its mask (mask pixels with a 4-neighbour outside the mask) is drawn
    one pixel wide in magenta. Only the shown pairs are decoded. Needs Pillow (the ``[plot]``
    extra).

    Parameters
    ----------
    out : str or os.PathLike
        The PNG to write (atomically: a temp file beside it, then a rename); not a folder, not
        inside the tree.
    data_dir : str or os.PathLike, optional
        The data root, the LungSegDB folder, or any folder laid out like it.
    n : int
        Tiles per row, 1 to 64.
    split : str, optional
        ``train``, ``val`` or ``test``: only pairs of that split of the splits in force.
    findings : bool
        Show what :func:`validate` flagged instead, each tile captioned with its finding
        codes (findings about no single file are in ``not_shown``). With nothing flagged the
        PNG says so and ``note`` is set.
    progress : Progress, optional
        Receives progress calls (validate's too, with ``findings``).

    Returns
    -------
    PreviewResult
        ``out``, ``width``/``height``, ``rows`` (variant, version, ``candidates``, ``tiles``:
        stem, image, mask, codes, note, ``box`` -- the slice's x, y, w, h in the PNG),
        ``note``, ``not_shown``.

    Raises
    ------
    UsageError
        Pillow missing (naming the ``[plot]`` extra), a bad ``n`` or split, ``split`` without
        a splits file, ``out`` a folder or inside the tree (exit 2).
    CheckFailed
        There is no tree at all (exit 1).
    LocalError
        ``out`` cannot be written (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> tmp = tempfile.mkdtemp()
    >>> made = L.synth(tmp + "/s", pairs=3, fmt="none")
    >>> result = L.preview(tmp + "/preview.png", made.tree, n=2)
    >>> [(r.label, r.candidates, [t.stem for t in r.tiles]) for r in result.rows][:2]
    [('preprocessed data/V1', 3, ['1', '3']), ('preprocessed data/V2', 3, ['1', '3'])]
    >>> from PIL import Image
    >>> Image.open(result.out).size == (result.width, result.height)
    True
    """
    from lungsegdb_cli.training import preview as _preview

    return _preview.preview(
        _paths(data_dir, must_exist=True),
        Path(out),
        n=n,
        split=split,
        findings=findings,
        progress=progress,
    )


def publish(
    dest: PathLike,
    data_dir: PathLike | None = None,
    *,
    sha256: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
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
        The pin the archive must match (else its recorded SHA-256).
    storage_options : mapping, optional
        Keyword arguments of the fsspec backend. Never printed or recorded.
    progress : Progress, optional
        Receives progress calls.

    Returns
    -------
    PublishResult
        The uploaded URLs, ``sha256``, ``size``, ``files``, ``counts`` and ``command`` (the
        ``lungsegdb download --url ... --sha256 ...`` line the fleet should run).

    Raises
    ------
    UsageError
        Nothing downloaded, the archive was not kept, or a ``dest`` that is not a folder or
        a supported URL (exit 2).
    CheckFailed
        The archive or the tree does not verify (exit 1); nothing was uploaded.
    DownloadError
        An upload failed (exit 3).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> tmp = tempfile.mkdtemp()
    >>> made = L.synth(tmp + "/synth", pairs=1)
    >>> _ = L.download(tmp + "/data", archive=made.archive.path)
    >>> L.publish(tmp + "/mirror", tmp + "/data").files
    8
    """
    from lungsegdb_cli.sources import publish as _publish

    dest = os.fspath(dest)
    return _publish.publish(
        _paths(data_dir, must_exist=True),
        dest,
        sha256=sha256,
        storage_options=storage_options,
        progress=progress,
    )
