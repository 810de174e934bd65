"""What an export is made from and what it made: the splits it exports with (loaded once,
checked against the tree), the pairs they assign, the archive the tree came from, the
record ``lungsegdb-export.json`` and :class:`ExportResult`; and the checks of the options that
are the export's own (``--link``, ``--dataset-id``). Nothing here writes: the operation,
:func:`lungsegdb_cli.api.exporting.export`, writes the texts and the record into the staging
folder (:mod:`lungsegdb_cli.training.export.outdir`) and puts it in place.

:func:`check_export` (in :mod:`lungsegdb_cli.training.export.check`) reads the record back.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lungsegdb_cli._version import __version__
from lungsegdb_cli.checks.manifest import manifest_sha256
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import LungSegDBError, UsageError
from lungsegdb_cli.training.export import croissant
from lungsegdb_cli.training.export.place import LINKS, Placed
from lungsegdb_cli.training.pairs import (
    Pair,
    assigned_splits,
    scan_pairs,
    splits_path,
)
from lungsegdb_cli.training.split import load_splits as load_splits_file
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
    """The splits to export with: ``split_file``, else the splits in force
    (``<state>/splits.json``), else the default split (what ``lungsegdb split`` with its
    defaults would write) made now, in memory (its ``source`` says which); the default ones
    are to be written to ``scratch`` (inside the staging folder) with the export's texts."""
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


def archive_pin(paths: DataPaths) -> str | None:
    """The SHA-256 of the archive the tree is recorded as extracted from, if recorded (a
    record that cannot be read: None; export vouches for nothing, ``verify`` reports it)."""
    from lungsegdb_cli.state.provenance import Provenance

    try:
        record = Provenance.load(paths.provenance)
    except LungSegDBError:
        return None
    return None if record is None else record.pin
