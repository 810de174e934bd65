"""``lungsegdb croissant [OUT.json]``: the Croissant metadata of the verified tree.

Holding the data dir's generation lock shared (one generation from the first read to the
last): the tree is vouched for and the archive it came from described
(:func:`~lungsegdb_cli.training.export.croissant.archive_facts`), the pairs listed with their
split when splits are in force (a splits file that fails
:func:`~lungsegdb_cli.training.split.check_splits`: exit 1, as ``export`` says), and the
document built (:func:`~lungsegdb_cli.training.export.croissant.document`). Written to OUT
atomically (a temp file beside it, then a rename), or returned for the caller to print.
``export croissant OUT`` writes the same document into an export folder, recorded for
``verify-export``.
"""

from __future__ import annotations

import builtins
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.state import commit
from lungsegdb_cli.training.export import croissant as cr
from lungsegdb_cli.training.export.record import _Splits, assigned_pairs, manifest_sha256
from lungsegdb_cli.training.pairs import scan_pairs
from lungsegdb_cli.training.split import load_splits, splits_path
from lungsegdb_cli.utils.fsutil import check_output_file, write_output


@dataclass
class CroissantResult:
    """What ``lungsegdb croissant`` made: the document, its digest, and what it describes."""

    dataset_dir: str
    out: str | None
    sha256: str
    bytes: int
    pairs: int
    variants: list[str]
    #: the splits file in force the ``split`` field comes from (None: no split field)
    splits_file: str | None
    archive: cr.ArchiveFacts
    document: dict[str, Any] = field(repr=False)
    #: the document's bytes (what OUT holds; what ``sha256`` is the digest of)
    text: builtins.bytes = field(default=b"", repr=False)  # builtins: `bytes` is a field

    @property
    def ok(self) -> bool:
        return True

    @property
    def mapping(self) -> dict[str, str | None]:
        """What to give ``mlcroissant.Dataset(..., mapping=...)`` to read the local archive."""
        return {cr.ARCHIVE_ID: None if self.archive.kept is None else str(self.archive.kept)}

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": True,
            "dataset_dir": self.dataset_dir,
            "out": self.out,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "pairs": self.pairs,
            "variants": self.variants,
            "splits_file": self.splits_file,
            "archive": self.archive.to_dict(),
            "mapping": self.mapping,
        }
        if self.out is None:
            doc["croissant"] = self.document
        return doc


def croissant(
    paths: DataPaths,
    out: Path | None = None,
    *,
    variant: str | None = None,
) -> CroissantResult:
    """The Croissant document of the tree of ``paths`` (see the module docstring), written to
    ``out`` when given."""
    from lungsegdb_cli.dataset.card import parse_variant

    chosen = parse_variant(variant)
    variants = (chosen,) if chosen else dataset.VARIANTS
    if out is not None:
        out = check_output_file(Path(out), "OUT", cr.FILENAME, protect=paths.own)
    with commit.reading(paths):
        facts = cr.archive_facts(paths)
        where = splits_path(paths)
        loaded = load_splits(where)
        if loaded is not None:
            pairs = assigned_pairs(paths, _Splits("in-force", str(where), *loaded), variants)
        else:
            groups = tuple(g for g in dataset.GROUPS if g.variant in variants)
            pairs = scan_pairs(paths, groups)
        doc = cr.document(
            facts,
            pairs,
            root=paths.dataset_dir,
            manifest_sha256=manifest_sha256(paths),
            with_split=loaded is not None,
        )
    data = cr.dumps(doc)
    if out is not None:
        write_output(out, data)
    return CroissantResult(
        dataset_dir=str(paths.dataset_dir),
        out=None if out is None else str(Path(os.path.abspath(out))),
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        pairs=len(pairs),
        variants=[v for v in variants if any(p.variant == v for p in pairs)],
        splits_file=str(where) if loaded is not None else None,
        archive=facts,
        document=doc,
        text=data,
    )
