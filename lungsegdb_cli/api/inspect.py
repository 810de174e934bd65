"""The operations that check and describe a tree: :func:`verify`, :func:`validate`,
:func:`stats` and :func:`info`.

See :mod:`lungsegdb_cli.api` for what every operation shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.checks.info import InfoResult
    from lungsegdb_cli.checks.stats import StatsResult
    from lungsegdb_cli.checks.validate import ValidateResult
    from lungsegdb_cli.checks.verify import VerifyResult
    from lungsegdb_cli.utils.progress import Progress

from lungsegdb_cli.api.common import PathLike, data_paths


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
        ``tree_problem`` set. Default: ``$LUNGSEGDB_SHA256``, as on the command line.
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
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/synth", pairs=1)
    >>> _ = L.download(tmp + "/data", archive=made.archive.path)
    >>> result = L.verify(tmp + "/data")
    >>> result.ok, result.checked, result.modified
    (True, 8, [])
    >>> work.cleanup()
    """
    from lungsegdb_cli.checks import verify as _verify
    from lungsegdb_cli.sources.request import sha256_pin

    pin = sha256_pin(sha256)  # malformed: UsageError (exit 2), as on the command line
    return _verify.verify(
        data_paths(data_dir, must_exist=True),
        sha256=pin,
        quick=quick,
        progress=progress,
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
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/synth", pairs=1, fmt="none")
    >>> report = L.validate(made.tree)
    >>> report.ok, report.pairs, report.errors
    (True, 4, 0)
    >>> work.cleanup()
    """
    from lungsegdb_cli.checks import validate as _validate
    from lungsegdb_cli.training.split import splits_check

    paths = data_paths(data_dir, must_exist=True)
    return _validate.validate(
        paths,
        strict=strict,
        use_cache=use_cache,
        progress=progress,
        splits_check=splits_check(paths),
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
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/synth", pairs=1, fmt="none")
    >>> doc = L.stats(made.tree, version="V1").to_dict()
    >>> [(g["variant"], g["version"], g["pairs"]) for g in doc["groups"]]
    [('preprocessed data', 'V1', 1), ('raw data', 'V1', 1)]
    >>> work.cleanup()
    """
    from lungsegdb_cli.checks import stats as _stats

    return _stats.compute(
        data_paths(data_dir, must_exist=True),
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

    Raises
    ------
    UsageError
        ``data_dir`` is not usable as a data root (a file, a NUL byte; exit 2).
    LocalError
        The data dir cannot be read (permission denied, exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> L.info(work.name).state
    'empty'
    >>> L.info(work.name).to_dict()["dataset"]["published_pairs"]
    {'V1': 1800, 'V2': 700}
    >>> work.cleanup()
    """
    from lungsegdb_cli.checks import info as _info

    return _info.collect(data_paths(data_dir))
