"""``export webdataset OUT``: tar shards per split, the format WebDataset streams.

Layout (``<split>``: ``train``, ``val``, ``test``, those that hold pairs)::

    OUT/<split>/lungsegdb-<split>-000000.tar ...    the samples, in a fixed order
    OUT/shards.json                                 every shard: path, samples, size, SHA-256

A sample is three tar members sharing one key (``<config>_<case id>``, e.g.
``raw_v1_0042``: no dots, unique in the export, see :mod:`~lungsegdb_cli.training.export.layout`
for case ids):

* ``KEY.image.tif``: the image file's bytes exactly as stored in the tree (no decode);
* ``KEY.mask.tif``: the mask as a TIFF of 0/1 ``uint8`` (the stored file when it already is);
* ``KEY.json``: ``{"group", "split", "stem", "variant", "version"}``.

Decoding both TIFFs with tifffile gives exactly what
:func:`~lungsegdb_cli.training.pairs.load_pair` gives. Shards are deterministic: samples in
split order, then variant, then tree order; every tar header has mtime 0, uid/gid 0, no owner
names and mode 0644, so the same tree and splits give byte-identical shards (and SHA-256s).
A shard is closed before the sample that would take it over ``--shard-size`` (samples, or
bytes of tar as written; default 256 MB). The standard library's :mod:`tarfile` makes the
headers (POSIX pax format, plain ustar for names of up to 100 characters); each member is
written as header, data and padding in one ``writev`` (no copy of the data through a file
object): no extra is needed. ``shards.json`` and the export record list each shard's SHA-256 and
sample count; ``verify-export`` checks them.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from lungsegdb_cli._version import __version__
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.training.export.samples import (
    HashingSink,
    Packed,
    Sample,
    Shard,
    open_sink,
    read_samples,
)
from lungsegdb_cli.training.export.shardsize import ShardSize
from lungsegdb_cli.training.pairs import Pair
from lungsegdb_cli.training.split import SPLITS
from lungsegdb_cli.utils.progress import Progress

INDEX = "shards.json"
PREFIX = "lungsegdb"
_BLOCK = tarfile.BLOCKSIZE


def shard_name(split: str, index: int) -> str:
    """``train/lungsegdb-train-000003.tar``: a shard's path in OUT."""
    return f"{split}/{PREFIX}-{split}-{index:06d}.tar"


def pattern(split: str, count: int) -> str:
    """The brace pattern of a split's shards, as ``webdataset.WebDataset`` takes it."""
    if count == 1:
        return shard_name(split, 0)
    return f"{split}/{PREFIX}-{split}-{{{0:06d}..{count - 1:06d}}}.tar"


def sample_key(pair: Pair, case: str) -> str:
    """``<config>_<case id>``: dots never occur in it (WebDataset splits names at the first)."""
    return f"{pair.variant.split()[0]}_{case}"


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def _stored(size: int) -> int:
    """Bytes a member of ``size`` bytes takes in the tar: its header and padded data."""
    return _BLOCK + -(-size // _BLOCK) * _BLOCK


def sample_doc(pair: Pair) -> bytes:
    """``KEY.json``: the pair's fields, keys sorted, compact."""
    doc = {
        "group": pair.group,
        "split": pair.split,
        "stem": pair.stem,
        "variant": pair.variant,
        "version": pair.version,
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()


def member_bytes(name: str, data: bytes) -> list[bytes]:
    """A tar member as written: its header (pax format, as :mod:`tarfile` makes it), the
    data, and the zeros that pad it to a 512-byte block."""
    header = _member(name, len(data)).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return [header, data, bytes(-len(data) % _BLOCK)]


def end_of_archive(size: int) -> bytes:
    """What closes a tar of ``size`` bytes, as :meth:`tarfile.TarFile.close` writes it: two
    zero blocks, then zeros up to a whole record (20 blocks)."""
    size += 2 * _BLOCK
    return bytes(2 * _BLOCK + (-size % tarfile.RECORDSIZE))


class _SplitWriter:
    """The shards of one split, rolled at the size."""

    def __init__(self, staged: Path, split: str, size: ShardSize) -> None:
        self.staged, self.split, self.size = staged, split, size
        self.shards: list[Shard] = []
        self.sink: HashingSink | None = None
        self.rows = 0

    def _open(self) -> None:
        self.sink = open_sink(self.staged / shard_name(self.split, len(self.shards)))
        self.rows = 0

    def _finish_shard(self) -> None:
        assert self.sink is not None
        self.sink.write(end_of_archive(self.sink.size))
        self.sink.close()
        self.shards.append(self.sink.shard(shard_name(self.split, len(self.shards)), self.rows))
        self.sink = None

    def add(self, key: str, sample: Sample) -> None:
        members = (
            (f"{key}.image.tif", sample.image),
            (f"{key}.mask.tif", sample.mask),
            (f"{key}.json", sample_doc(sample.pair)),
        )
        adding = sum(_stored(len(data)) for _, data in members)
        if self.sink is not None and self.size.full(self.rows, self.sink.size, adding):
            self._finish_shard()
        if self.sink is None:
            self._open()
        assert self.sink is not None
        for name, data in members:
            self.sink.writev(member_bytes(name, data))
        self.rows += 1

    def close(self) -> list[Shard]:
        if self.sink is not None:
            self._finish_shard()
        return self.shards

    def abort(self) -> None:
        if self.sink is not None:
            self.sink.close()


def _order(pairs: list[Pair]) -> list[Pair]:
    """Split by split, then variant, tree order within."""
    rank = {v: i for i, v in enumerate(dataset.VARIANTS)}
    return sorted(pairs, key=lambda p: (SPLITS.index(str(p.split)), rank[p.variant]))


def index_doc(by_split: dict[str, list[Shard]]) -> dict[str, Any]:
    """``shards.json``: per split its sample count, brace pattern and shards."""
    return {
        "schema": 1,
        "format": "webdataset",
        "made_by": f"lungsegdb {__version__}",
        "sample": {
            "image.tif": "the image file as stored in the tree",
            "mask.tif": "the mask as 0/1 uint8",
            "json": "group, split, stem, variant, version",
        },
        "splits": {
            split: {
                "samples": sum(s.samples for s in shards),
                "pattern": pattern(split, len(shards)),
                "shards": [s.to_dict() for s in shards],
            }
            for split, shards in by_split.items()
        },
    }


def pack(
    pairs: list[Pair],
    cases: dict[str, str],
    size: ShardSize,
    staged: Path,
    progress: Progress,
    workers: int | None,
    limit: int,
) -> Packed:
    """Write the shards of ``pairs`` (each with its split) and ``shards.json`` into ``staged``."""
    packed = Packed()
    by_split: dict[str, list[Shard]] = {}
    writer: _SplitWriter | None = None
    try:
        with read_samples(_order(pairs), limit=limit, progress=progress, workers=workers) as reader:
            for sample in reader:
                split = str(sample.pair.split)
                if writer is None or writer.split != split:
                    if writer is not None:
                        by_split[writer.split] = writer.close()
                    writer = _SplitWriter(staged, split, size)
                writer.add(sample_key(sample.pair, cases[sample.pair.key]), sample)
            if writer is not None:
                by_split[writer.split] = writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.abort()
    packed.sources = reader.sources
    for split, shards in by_split.items():
        packed.shards.extend(shards)
        packed.datasets[split] = {
            "variant": None,
            "pairs": {split: sum(s.samples for s in shards)},
            "shards": len(shards),
            "bytes": sum(s.size for s in shards),
        }
    packed.texts[INDEX] = json.dumps(index_doc(by_split), indent=1, ensure_ascii=True) + "\n"
    return packed


def plan_pack(pairs: list[Pair], cases: dict[str, str], size: ShardSize) -> Callable[..., Packed]:
    """The packing step of a ``webdataset`` export's plan: ``(staged, progress, workers,
    limit)``."""
    return partial(pack, pairs, cases, size)
