"""``lungsegdb export``: the pairs, with their splits, in a training framework's layout.

OUT is claimed first (:func:`~lungsegdb_cli.training.export.outdir.claim`: a second export to
it fails at once, exit 5) and what it holds is recorded
(:func:`~lungsegdb_cli.training.export.outdir.check_target`:
absent, empty, or with ``force`` a previous export). Then, under the data dir's generation lock
held shared (the tree stays one generation):

1. the splits: ``split_file``, else the splits in force (``<state>/splits.json``), else the
   default split (what ``lungsegdb split`` with its defaults would write) made now, in
   memory, and said so; a file that fails
   :func:`~lungsegdb_cli.training.split.check_splits` (made from another manifest, missing
   pairs of the tree, or leaky) is refused (exit 1);
2. the plan of the format (:mod:`lungsegdb_cli.training.export.layout`);
3. every file placed in a staging folder beside OUT (:mod:`lungsegdb_cli.training.export.place`:
   images hard-linked, masks rewritten where the format needs 0/1);
4. the record ``lungsegdb-export.json`` and a copy of the splits (``lungsegdb-splits.json``);
5. the staging folder renamed into place (:mod:`lungsegdb_cli.training.export.outdir`), only if
   OUT is still what it was (anything that appeared there meanwhile: exit 5, nothing deleted).

:func:`check_export` (in :mod:`lungsegdb_cli.training.export.check`) reads the record back.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lungsegdb_cli._version import __version__
from lungsegdb_cli.checks.manifest import manifest_sha256
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed, LungSegDBError, UsageError, from_os_error
from lungsegdb_cli.state import commit
from lungsegdb_cli.state.crashpoints import checkpoint
from lungsegdb_cli.training.export import croissant, layout, recordtext
from lungsegdb_cli.training.export.check import RECORD
from lungsegdb_cli.training.export.outdir import Seen, check_out, claim, staging
from lungsegdb_cli.training.export.outdir import commit as put_in_place
from lungsegdb_cli.training.export.place import LINKS, Placed, place_all
from lungsegdb_cli.training.export.shardsize import ShardSize
from lungsegdb_cli.training.pairs import (
    SPLITS,
    Pair,
    assigned_splits,
    require_pairs,
    scan_pairs,
    splits_path,
)
from lungsegdb_cli.training.split import load_splits as load_splits_file
from lungsegdb_cli.utils import csvsafe
from lungsegdb_cli.utils.progress import Progress, ensure
from lungsegdb_cli.utils.statejson import loads

SCHEMA = 1
SPLITS_COPY = "lungsegdb-splits.json"
DEFAULT_DATASET_ID = 501


@dataclass
class ExportResult:
    """What ``lungsegdb export`` made: where, from what, how many files and how placed."""

    format: str
    out: str
    dataset_dir: str
    link: str
    variants: list[str]
    #: ``file`` (--split-file), ``in-force`` (<state>/splits.json) or ``default`` (made now)
    splits_source: str
    splits_file: str | None
    splits_sha256: str
    manifest_sha256: str | None
    counts: dict[str, int]
    datasets: dict[str, dict[str, Any]]
    #: how -> files (hardlink, symlink, copy, copy-fallback, written)
    placed: dict[str, int] = field(default_factory=dict)
    record: str = ""
    #: the shards of a packed format (hf, webdataset): path, size, sha256, samples
    shards: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True

    @property
    def made_default_split(self) -> bool:
        return self.splits_source == "default"

    @property
    def fell_back(self) -> int:
        """Files copied because a hard link was refused (another file system: EXDEV)."""
        return self.placed.get("copy-fallback", 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "format": self.format,
            "out": self.out,
            "dataset_dir": self.dataset_dir,
            "link": self.link,
            "variants": self.variants,
            "splits": {
                "source": self.splits_source,
                "path": self.splits_file,
                "sha256": self.splits_sha256,
            },
            "made_default_split": self.made_default_split,
            "manifest_sha256": self.manifest_sha256,
            "counts": self.counts,
            "datasets": self.datasets,
            "placed": self.placed,
            "copied_instead_of_linked": self.fell_back,
            "record": self.record,
            "shards": self.shards,
        }


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------
def check_link(link: str) -> str:
    if link not in LINKS:
        raise UsageError(f"Unknown --link {link!r}", hint=f"Use one of: {', '.join(LINKS)}.")
    return link


def check_dataset_id(dataset_id: Any, two: bool) -> int:
    top = 998 if two else 999
    whole = isinstance(dataset_id, int) and not isinstance(dataset_id, bool)
    if not whole or not 1 <= dataset_id <= top:
        raise UsageError(
            f"--dataset-id must be a whole number from 1 to {top}, not {dataset_id!r}",
            hint="nnU-Net dataset ids have three digits (the raw variant takes id + 1); "
            "e.g. --dataset-id 501.",
        )
    return dataset_id


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------
@dataclass
class _Splits:
    source: str
    path: str | None
    text: bytes
    doc: dict[str, Any]


def load_splits(paths: DataPaths, split_file: Path | None, scratch: Path) -> _Splits:
    """The splits to export with (see the module docstring); the default ones are written to
    ``scratch`` (inside the staging folder)."""
    if split_file is not None:
        split_file = Path(split_file)
        if not split_file.is_file():
            raise UsageError(
                f"Splits file not found: {split_file}",
                hint="Write one with 'lungsegdb split --out FILE'.",
                path=str(split_file),
            )
        loaded = load_splits_file(split_file)
        if loaded is None:  # gone since the check above
            raise UsageError(
                f"Splits file not found: {split_file}",
                hint="Write one with 'lungsegdb split --out FILE'.",
                path=str(split_file),
            )
        return _Splits("file", str(split_file.absolute()), *loaded)
    where = splits_path(paths)
    loaded = load_splits_file(where)
    if loaded is not None:
        return _Splits("in-force", str(where), *loaded)
    from lungsegdb_cli.training.split import compute_splits, document

    made = compute_splits(paths, out=scratch)  # the export's generation holds the tree steady
    text = document(made).encode("utf-8")  # written to scratch with the export's other texts
    doc = cast("dict[str, Any]", loads(text))  # document() writes one JSON object
    return _Splits("default", None, text, doc)


def assigned_pairs(paths: DataPaths, splits: _Splits, variants: tuple[str, ...]) -> list[Pair]:
    """The pairs of ``variants`` with their split from ``splits``, once the splits passed
    :func:`~lungsegdb_cli.training.split.check_splits` (made from another manifest, a pair in
    two splits, missing pairs of the tree or naming pairs it no longer has, a slice's copies
    or a group in different splits: CheckFailed, exit 1)."""
    from lungsegdb_cli.dataset import card as dataset
    from lungsegdb_cli.training.split import check_splits, doc_group_by

    doc = splits.doc
    where = splits.path or "the default split"
    group_by = doc_group_by(doc, where)
    groups = tuple(g for g in dataset.GROUPS if g.variant in variants)
    pairs = scan_pairs(paths, groups, group_by, assigned_splits(doc))
    check_splits(paths, doc, where, [p.key for p in pairs], variants)
    return pairs


# ---------------------------------------------------------------------------------------------
# The record
# ---------------------------------------------------------------------------------------------
def _relative(source: str, root: Path, prefix: str) -> str:
    """``source`` relative to ``root``, with ``/`` (string work for the usual case, a path
    under ``prefix`` = ``root`` + separator; pathlib otherwise)."""
    if source.startswith(prefix):
        return source[len(prefix) :].replace(os.sep, "/")
    return Path(source).relative_to(root).as_posix()


def _file_entry(p: Placed, root: Path, prefix: str = "") -> dict[str, Any]:
    return {
        "path": p.rel,
        "size": p.size,
        "how": p.how,
        "ino": p.ino,
        "mtime_ns": p.mtime_ns,
        "source": _relative(p.source, root, prefix or os.path.join(str(root), "")),
        "source_size": p.source_size,
        "source_mtime_ns": p.source_mtime_ns,
    }


def _text_entry(rel: str, data: bytes) -> dict[str, Any]:
    return {"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def record_doc(
    result: ExportResult,
    splits: _Splits,
    placed: list[Placed],
    texts: dict[str, bytes],
    cases: dict[str, str],
    root: Path,
) -> dict[str, Any]:
    probed = [p for p in placed if p.how == "probed"]
    shards = {"shards": result.shards} if result.shards else {}
    prefix = os.path.join(str(root), "")
    return {
        "schema": SCHEMA,
        "kind": "lungsegdb-export",
        "format": result.format,
        "lungsegdb_version": __version__,
        "dataset_dir": result.dataset_dir,
        "manifest_sha256": result.manifest_sha256,
        "splits": {
            "source": splits.source,
            "path": splits.path,
            "sha256": hashlib.sha256(splits.text).hexdigest(),
            "copy": SPLITS_COPY,
            **{k: splits.doc.get(k) for k in ("method", "seed", "ratios", "group_by")},
        },
        "link": result.link,
        "variants": result.variants,
        "counts": result.counts,
        "datasets": result.datasets,
        "cases": cases,
        "files": [_file_entry(p, root, prefix) for p in placed if p.how != "probed"],
        "sources": [_file_entry(p, root, prefix) for p in probed],
        "texts": [_text_entry(rel, data) for rel, data in sorted(texts.items())],
        **shards,
    }


def croissant_text(paths: DataPaths, pairs: list[Pair]) -> bytes:
    """``croissant.json`` of an export: the pairs (each with its split) in their archive."""
    doc = croissant.document(
        croissant.archive_facts(paths),
        pairs,
        root=paths.dataset_dir,
        manifest_sha256=manifest_sha256(paths),
        with_split=True,
    )
    return croissant.dumps(doc)


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise from_os_error(exc, f"write {path}") from exc


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------
def export(
    paths: DataPaths,
    fmt: str,
    out: str | os.PathLike[str],
    *,
    split_file: Path | None = None,
    link: str = "hardlink",
    variant: str | None = None,
    dataset_id: int = DEFAULT_DATASET_ID,
    force: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    shard_size: str | int | ShardSize | None = None,
) -> ExportResult:
    """Export the tree of ``paths`` as ``fmt`` to ``out`` (see the module docstring)."""
    from lungsegdb_cli.dataset import card as dataset
    from lungsegdb_cli.dataset.card import parse_variant

    target = check_out(out)  # not empty, not the current folder: before anything is written
    fmt = layout.check_format(fmt)
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
    req = _Request(fmt, target, split_file, link, chosen, variants, dataset_id, shard)
    with claim(req.out, f"export {fmt}", force=force, protect=list(paths.own.values())) as seen:
        return _run(paths, req, seen, progress, workers)


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


def _archive_pin(paths: DataPaths) -> str | None:
    """The SHA-256 of the archive the tree is recorded as extracted from, if recorded (a
    record that cannot be read: None; export vouches for nothing, ``verify`` reports it)."""
    from lungsegdb_cli.state.provenance import Provenance

    try:
        record = Provenance.load(paths.provenance)
    except LungSegDBError:
        return None
    return None if record is None else record.pin


def _run(
    paths: DataPaths, req: _Request, seen: Seen, progress: Progress | None, workers: int | None
) -> ExportResult:
    """The export proper, OUT claimed: stage every file, then put it in place if OUT is still
    what was ``seen``."""
    from lungsegdb_cli.tiff.decode import max_image_pixels

    fmt, out, link, chosen, variants = req.fmt, req.out, req.link, req.chosen, req.variants
    limit = max_image_pixels()
    with commit.reading(paths), staging(out) as (staged, aside):
        splits = load_splits(paths, req.split_file, staged / SPLITS_COPY)
        pairs = assigned_pairs(paths, splits, variants)
        if not pairs:  # gone since the check before the claim
            require_pairs(paths, chosen)
        manifest = manifest_sha256(paths)
        tree = {"manifest_sha256": manifest, "archive_sha256": _archive_pin(paths)}
        plan = layout.plan(
            fmt,
            pairs,
            dataset_id=req.dataset_id,
            one_variant=chosen is not None,
            shard_size=req.shard,
            tree=tree,
        )
        placed = place_all(plan.jobs, str(staged), link, limit, ensure(progress), workers)
        shards: list[dict[str, Any]] = []
        if plan.pack is not None:  # hf, webdataset: shards instead of a file per image
            packed = plan.pack(staged, ensure(progress), workers, limit)
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
        put_in_place(staged, out, aside, seen)
        checkpoint("export done")
    return result
