"""The operations that hand the tree to training: :func:`pairs` (and :func:`list_pairs`, the
``pairs`` command's), :func:`split`, :func:`check_export` (and :func:`export_files`, what
``publish --export`` uploads) and :func:`preview`; the export itself is
:func:`lungsegdb_cli.api.exporting.export`.

See :mod:`lungsegdb_cli.api` for what every operation shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.training.export.check import ExportCheckResult
    from lungsegdb_cli.training.pairs import Pair, PairsResult
    from lungsegdb_cli.training.preview import PreviewResult
    from lungsegdb_cli.training.split import SplitResult
    from lungsegdb_cli.utils.progress import Progress

from lungsegdb_cli.api.common import PathLike, data_paths


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
        There is no tree at all; with ``split``, splits in force that fail
        :func:`~lungsegdb_cli.training.split.check_splits` (made for another tree or manifest,
        not covering the pairs, a pair in two splits, a slice's copies or a ``group_by``
        group in different splits) (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> made = L.synth(work.name + "/s", pairs=2, fmt="none")
    >>> found = L.pairs(made.tree, variant="raw", version="V1")
    >>> [(p.stem, p.version, p.image.name, p.split) for p in found]
    [('1', 'V1', '1.TIF', None), ('2', 'V1', '2.TIF', None)]
    >>> image, mask = L.load_pair(found[0])
    >>> image.shape == mask.shape, sorted(set(mask.ravel().tolist()))
    (True, [0, 1])
    >>> work.cleanup()
    """
    return list_pairs(data_dir, variant=variant, version=version, split=split).pairs


def list_pairs(
    data_dir: PathLike | None = None,
    *,
    variant: str | None = None,
    version: str | None = None,
    split: str | None = None,
    csv: PathLike | None = None,
) -> PairsResult:
    """The ``pairs`` command's operation: :func:`pairs` as a :class:`PairsResult` (the
    ``--json`` document), written as CSV to ``csv`` too when given (cells a spreadsheet would
    run as a formula escaped)."""
    from lungsegdb_cli.training import pairs as _pairs

    return _pairs.collect(
        data_paths(data_dir, must_exist=True),
        variant=variant,
        version=version,
        split=split,
        csv_path=Path(csv) if csv is not None else None,
    )


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
        There is no tree at all; with ``split``, splits in force that fail
        :func:`~lungsegdb_cli.training.split.check_splits` (made for another tree or manifest,
        not covering the pairs, a pair in two splits, a slice's copies or a ``group_by``
        group in different splits) (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> made = L.synth(work.name + "/s", pairs=4, fmt="none")
    >>> result = L.split(made.tree, seed=0)
    >>> result.pairs, sorted(result.splits)
    (16, ['test', 'train', 'val'])
    >>> {p.split for p in L.pairs(made.tree)} <= {"train", "val", "test"}
    True
    >>> work.cleanup()
    """
    from lungsegdb_cli.training import split as _split

    return _split.make_splits(
        data_paths(data_dir, must_exist=True),
        ratios=ratios,
        seed=seed,
        group_by=group_by,
        out=None if out is None else Path(out),
        stratify=stratify,
    )


def check_export(out: PathLike) -> ExportCheckResult:
    """Does the export at ``out`` still match what it was made from?

    Checks, from ``out/lungsegdb-export.json``: the tree's manifest SHA-256, the splits
    file's SHA-256, every exported file (present, recorded size; a hard link still shares
    its tree file's inode), every tree file it came from (size, mtime), and that nothing was
    added. What ``lungsegdb verify-export OUT`` and ``lungsegdb export --check OUT`` run.

    Parameters
    ----------
    out : str or os.PathLike
        The folder an :func:`~lungsegdb_cli.export` made (it holds ``lungsegdb-export.json``).

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

    Examples
    --------
    >>> import pathlib, tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> made = L.synth(work.name + "/s", pairs=1, fmt="none")
    >>> _ = L.export("csv", work.name + "/out", made.tree)
    >>> L.check_export(work.name + "/out").ok
    True
    >>> pathlib.Path(work.name, "out", "stray.txt").write_text("added by hand")
    13
    >>> checked = L.check_export(work.name + "/out")
    >>> checked.ok, checked.extra
    (False, ['stray.txt'])
    >>> work.cleanup()
    """
    from lungsegdb_cli.training.export import check as _export_check

    return _export_check.check(Path(out))


def export_files(out: PathLike) -> list[str]:
    """The files of the export at ``out`` (POSIX paths relative to it), in the order a mirror
    should receive them: the exported files and shards, then the texts, the index a loader
    starts from (``shards.json``, the ``README.md`` card) last; only when the export still
    matches its record. The record itself stays home: it names this machine's paths and
    inodes, which mean nothing on a mirror.

    Raises
    ------
    UsageError
        ``out`` is not an export (exit 2).
    CheckFailed
        It no longer matches what it was made from, or its record cannot be read (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/s", pairs=2, fmt="none")
    >>> _ = L.export("webdataset", tmp + "/wds", made.tree)
    >>> export_files(tmp + "/wds")[-2:]
    ['lungsegdb-splits.json', 'shards.json']
    >>> work.cleanup()
    """
    from lungsegdb_cli.errors import CheckFailed
    from lungsegdb_cli.training.export import check as _export_check

    where = Path(out)
    checked = _export_check.check(where)
    if not checked.ok:
        raise CheckFailed(
            f"Not publishing {where}: the export no longer matches what it was made from",
            hint=f"Run 'lungsegdb verify-export {where}' to see what changed, then export "
            "again with --force.",
            path=str(where),
        )
    doc = _export_check.read_record(where)
    names = [e["path"] for key in ("files", "shards") for e in doc.get(key) or []]
    texts = [e["path"] for e in doc.get("texts") or []]
    return names + sorted(texts, key=lambda name: name in _INDEXES)


#: The texts a loader reads first: uploaded last, so a reader that sees one sees the rest.
_INDEXES = ("shards.json", "README.md")


def preview(
    out: PathLike,
    data_dir: PathLike | None = None,
    *,
    n: int = 8,
    split: str | None = None,
    findings: bool = False,
    window: str | None = None,
    progress: Progress | None = None,
) -> PreviewResult:
    """Write a PNG montage of slices with their mask outline drawn on them, to eyeball.

    A row per variant x version with pairs, up to ``n`` pairs each, evenly spaced over the
    group in natural order (the same pairs every run). Every slice is scaled to fit a 256-px
    tile and the border of its mask (mask pixels with a 4-neighbour outside the mask) is drawn
    one pixel wide in magenta. Grey slices go through a display window: by default CT in
    Hounsfield units (signed integers whose darkest value is air or padding below it) gets the
    lung window (level -600, width 1500), 8-bit grey the 1st-99th percentile of the frame and
    other images the 1st-99th percentile of the body (without the padding); each row's label
    says which window it used. Only the shown pairs are decoded. Needs Pillow (the ``[plot]``
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
    window : str, optional
        ``auto`` (None: the rules above), ``lung`` (-600, 1500), ``mediastinum`` (40, 400) or
        ``"LEVEL,WIDTH"`` (e.g. ``"-600,1500"``): a fixed window for every grey image that is
        not 8-bit, in its own units; 8-bit grey and RGB images keep their rule.
    progress : Progress, optional
        Receives progress calls (validate's too, with ``findings``).

    Returns
    -------
    PreviewResult
        ``out``, ``width``/``height``, ``rows`` (variant, version, ``candidates``, ``tiles``:
        stem, image, mask, codes, note, ``box`` -- the slice's x, y, w, h in the PNG --,
        ``window`` -- rule, lo, hi, legend), ``note``, ``not_shown``.

    Raises
    ------
    UsageError
        Pillow missing (naming the ``[plot]`` extra), a bad ``n``, split or ``window``,
        ``split`` without a splits file, ``out`` a folder or inside the tree (exit 2).
    CheckFailed
        There is no tree at all; with ``split``, splits in force that fail
        :func:`~lungsegdb_cli.training.split.check_splits` (made for another tree or manifest,
        not covering the pairs, a pair in two splits, a slice's copies or a ``group_by``
        group in different splits) (exit 1).
    LocalError
        ``out`` cannot be written (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/s", pairs=3, fmt="none")
    >>> result = L.preview(tmp + "/preview.png", made.tree, n=2)
    >>> [(r.label, r.candidates, [t.stem for t in r.tiles]) for r in result.rows][:2]
    [('preprocessed data/V1', 3, ['1', '3']), ('preprocessed data/V2', 3, ['1', '3'])]
    >>> result.rows[2].label, result.rows[2].windows  # raw V1: int16 Hounsfield units
    ('raw data/V1', ['lung L-600 W1500'])
    >>> from PIL import Image
    >>> Image.open(result.out).size == (result.width, result.height)
    True
    >>> work.cleanup()
    """
    from lungsegdb_cli.training import preview as _preview

    return _preview.preview(
        data_paths(data_dir, must_exist=True),
        Path(out),
        n=n,
        split=split,
        findings=findings,
        window=window,
        progress=progress,
    )
