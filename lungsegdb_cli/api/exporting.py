"""The operation :func:`export`: the pairs, with their splits, in a training framework's
layout, put in place at one step. The public function runs the steps itself:

OUT's options are checked before anything is written
(:func:`~lungsegdb_cli.training.export.outdir.check_out`: not empty or blank, not the current
folder), then OUT is claimed (:func:`~lungsegdb_cli.training.export.outdir.claim`: a second
export to it fails at once, exit 5) and what it holds is recorded (absent, empty, or with
``force`` a previous export). Then, under the data dir's generation lock held shared (the
tree stays one generation):

1. the splits (:func:`~lungsegdb_cli.training.export.record.load_splits`): ``split_file``,
   else the splits in force, else the default split made now, in memory, and said so; a file
   that fails :func:`~lungsegdb_cli.training.split.check_splits` (made from another manifest,
   missing pairs of the tree, or leaky) is refused (exit 1);
2. the plan of the format (:mod:`lungsegdb_cli.training.export.layout`);
3. every file placed in a staging folder beside OUT (:mod:`lungsegdb_cli.training.export.place`:
   images hard-linked, masks rewritten where the format needs 0/1);
4. the texts, the record ``lungsegdb-export.json``
   (:func:`~lungsegdb_cli.training.export.record.record_doc`) and a copy of the splits
   (``lungsegdb-splits.json``), written here;
5. the staging folder renamed into place (:func:`~lungsegdb_cli.training.export.outdir.commit`),
   only if OUT is still what it was (anything that appeared there meanwhile: exit 5, nothing
   deleted).

:func:`~lungsegdb_cli.api.handoff.check_export` reads the record back. See
:mod:`lungsegdb_cli.api` for what every operation shares.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lungsegdb_cli.api.common import PathLike, data_paths
from lungsegdb_cli.checks.manifest import manifest_sha256
from lungsegdb_cli.errors import CheckFailed, from_os_error
from lungsegdb_cli.state import commit
from lungsegdb_cli.state.crashpoints import checkpoint
from lungsegdb_cli.training.export import croissant, layout, outdir, recordtext
from lungsegdb_cli.training.export.check import RECORD
from lungsegdb_cli.training.export.place import place_all
from lungsegdb_cli.training.export.record import (
    DEFAULT_DATASET_ID,
    SPLITS_COPY,
    ExportResult,
    archive_pin,
    assigned_pairs,
    check_dataset_id,
    check_link,
    croissant_text,
    load_splits,
    record_doc,
)
from lungsegdb_cli.training.pairs import SPLITS, require_pairs
from lungsegdb_cli.utils import csvsafe
from lungsegdb_cli.utils.progress import ensure

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.dataset.paths import DataPaths
    from lungsegdb_cli.training.export.outdir import Seen
    from lungsegdb_cli.training.export.shardsize import ShardSize
    from lungsegdb_cli.utils.progress import Progress

__all__ = ["export"]


def export(
    format: str,
    out: PathLike,
    data_dir: PathLike | None = None,
    *,
    split_file: PathLike | None = None,
    link: str = "hardlink",
    variant: str | None = None,
    dataset_id: int = DEFAULT_DATASET_ID,
    force: bool = False,
    progress: Progress | None = None,
    shard_size: str | int | None = None,
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
        variant), ``csv`` (``pairs.csv``, one row per pair), ``hf`` (a Hugging Face
        ``datasets`` folder: Parquet shards per variant and split, and a card; needs the
        ``[hf]`` extra), ``webdataset`` (tar shards per split and ``shards.json``) or
        ``croissant`` (``croissant.json``, the Croissant metadata :func:`croissant` writes,
        with splits).
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
    shard_size : str or int, optional
        ``hf`` and ``webdataset`` only: samples per shard (an int, or ``"1000"``) or bytes
        per shard (``"256MB"``, ``"1GiB"``). Default 256 MB.
    progress : object, optional
        ``start``/``advance``/``done``; default silent.

    Returns
    -------
    ExportResult
        ``out``, ``counts`` (pairs per split), ``datasets``, ``placed`` (files per way of
        placing), ``splits_source`` (``file``, ``in-force`` or ``default``), ``record``,
        ``shards`` (hf, webdataset: each shard's path, size, SHA-256 and samples).

    Raises
    ------
    UsageError
        Unknown format, link or variant; a ``variant`` the tree has no pair of (nothing
        written); a bad ``shard_size``, or one for a format that is not
        packed; ``hf`` without pyarrow (naming the ``[hf]`` extra); a non-empty ``out``
        without ``force``; with
        ``force``, an ``out`` that is not an intact previous export holding only what it made;
        ``out`` a symlink or overlapping the tree; ``out`` empty or blank (an unset
        variable?), or the current folder or one holding it; a missing ``split_file``
        (exit 2).
    CheckFailed
        No tree; a tree with no image/mask pair (nothing written); a splits file that fails
        :func:`~lungsegdb_cli.training.split.check_splits` (from another manifest, not
        covering the pairs, or leaky); a file that cannot be decoded; a manifest that is not
        a regular file (exit 1).
    LocalError
        Another export is writing ``out`` (kind ``out-busy``); ``out`` changed during the
        export (``out-changed``: left as it is, nothing deleted); disk full or another write
        the machine refused (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/s", pairs=2, fmt="none")
    >>> result = L.export("folders", tmp + "/out", made.tree)
    >>> result.made_default_split, sorted(result.datasets)
    (True, ['preprocessed', 'raw'])
    >>> L.check_export(tmp + "/out").ok
    True
    >>> work.cleanup()
    """
    from lungsegdb_cli.dataset import card as dataset
    from lungsegdb_cli.dataset.card import parse_variant

    paths = data_paths(data_dir, must_exist=True)
    target = outdir.check_out(out)  # not empty, not the current folder: before any write
    fmt = layout.check_format(format)
    shard = layout.check_shard_size(fmt, shard_size)
    link = check_link(link)
    chosen = parse_variant(variant)
    variants = (chosen,) if chosen else dataset.VARIANTS
    if fmt == "nnunet":
        dataset_id = check_dataset_id(dataset_id, two=chosen is None)
    if not paths.dataset_dir.is_dir():
        raise CheckFailed(
            f"No LungSegDB tree at {paths.dataset_dir}",
            hint="Run 'lungsegdb download' first, or pass --data-dir.",
            path=str(paths.dataset_dir),
        )
    with commit.reading(paths):  # nothing to export is refused before anything is written
        require_pairs(paths, chosen)
    files = None if split_file is None else Path(split_file)
    req = _Request(fmt, target, files, link, chosen, variants, dataset_id, shard)
    protect = list(paths.own.values())
    with outdir.claim(target, f"export {fmt}", force=force, protect=protect) as seen:
        return _run(paths, req, seen, progress)


@dataclass(frozen=True)
class _Request:
    """An export's checked options."""

    fmt: str
    out: Path
    split_file: Path | None
    link: str
    chosen: str | None  # one variant, or None: both
    variants: tuple[str, ...]
    dataset_id: int
    shard: ShardSize | None = None  # hf, webdataset


def _run(paths: DataPaths, req: _Request, seen: Seen, progress: Progress | None) -> ExportResult:
    """The export proper, OUT claimed: stage every file, then put it in place if OUT is still
    what was ``seen``."""
    from lungsegdb_cli.tiff.decode import max_image_pixels

    fmt, out, link, chosen, variants = req.fmt, req.out, req.link, req.chosen, req.variants
    limit = max_image_pixels()
    with commit.reading(paths), outdir.staging(out) as (staged, aside):
        splits = load_splits(paths, req.split_file, staged / SPLITS_COPY)
        pairs = assigned_pairs(paths, splits, variants)
        if not pairs:  # gone since the check before the claim
            require_pairs(paths, chosen)
        manifest = manifest_sha256(paths)
        tree = {"manifest_sha256": manifest, "archive_sha256": archive_pin(paths)}
        plan = layout.plan(
            fmt,
            pairs,
            dataset_id=req.dataset_id,
            one_variant=chosen is not None,
            shard_size=req.shard,
            tree=tree,
        )
        placed = place_all(plan.jobs, str(staged), link, limit, ensure(progress), None)
        shards: list[dict[str, Any]] = []
        if plan.pack is not None:  # hf, webdataset: shards instead of a file per image
            packed = plan.pack(staged, ensure(progress), None, limit)
            placed += packed.sources
            plan.texts.update(packed.texts)
            plan.datasets.update(packed.datasets)
            shards = [s.to_dict() for s in packed.shards]
        texts = {rel: text.encode() for rel, text in plan.texts.items()}
        if fmt == "csv":
            texts[layout.CSV_NAME] = csvsafe.encode(
                layout.csv_text(pairs, plan.cases, {p.rel: p for p in placed})
            )
        if fmt == "croissant":
            texts[croissant.FILENAME] = croissant_text(paths, pairs)
        texts[SPLITS_COPY] = splits.text
        for rel, data in texts.items():
            _write(staged / rel, data)
        result = ExportResult(
            format=fmt,
            out=str(out),
            dataset_dir=str(paths.dataset_dir),
            link=link,
            variants=[v for v in variants if any(p.variant == v for p in pairs)],
            splits_source=splits.source,
            splits_file=splits.path,
            splits_sha256=hashlib.sha256(splits.text).hexdigest(),
            manifest_sha256=manifest,
            counts={s: sum(p.split == s for p in pairs) for s in SPLITS},
            datasets=plan.datasets,
            placed=dict(Counter(p.how for p in placed if p.how != "probed")),
            record=str(out / RECORD),
            shards=shards,
        )
        doc = record_doc(result, splits, placed, texts, plan.cases, paths.dataset_dir)
        _write(staged / RECORD, recordtext.dumps(doc).encode())
        checkpoint("export staged")
        outdir.commit(staged, out, aside, seen)
        checkpoint("export done")
    return result


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise from_os_error(exc, f"write {path}") from exc
