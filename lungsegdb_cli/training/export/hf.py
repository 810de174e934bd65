"""``export hf OUT``: a Hugging Face ``datasets`` folder -- Parquet shards and a dataset card.

Layout (``<config>`` is ``preprocessed`` or ``raw``, one per variant exported; ``<split>`` is
``train``, ``validation`` (our ``val``) or ``test``, only those that hold pairs)::

    OUT/README.md                                       the card: YAML configs, splits, citation
    OUT/<config>/<split>-00000-of-00003.parquet         the rows, in tree order

Columns (the same in every shard; the Arrow schema also carries them as ``datasets``
features, so ``load_dataset`` needs nothing else):

======== ========= ===================================================================
image    binary    the image file's bytes exactly as stored in the tree (never decoded:
                   int16 Hounsfield units, uint8 grey or RGB stay what they are)
mask     binary    a TIFF of the mask as 0/1 ``uint8`` (the stored file when it already
                   is one, else the first page rewritten)
stem     string    the file name without extension
variant  string    ``preprocessed data`` or ``raw data``
version  string    ``V1`` or ``V2``
group    string    the group key the split kept together
======== ========= ===================================================================

Why bytes and not ``Image`` or ``Array2D`` features: ``datasets``' ``Image`` decodes with
Pillow, which turns signed 16-bit TIFFs into 32-bit integers (or refuses them), and
``Array2D`` needs one shape and dtype per column while slices may differ in size, dtype and
channels from one version (or file) to the next. The TIFF bytes keep every value, dtype and
shape exactly, and are a byte copy of the tree (no decode, no re-encode); the card's
``decode(row)`` (:data:`DECODE`) gives what :func:`~lungsegdb_cli.training.pairs.load_pair`
gives, for the mask too (``tifffile.imread(..., key=0)`` does as well, except that a planar RGB
file comes out channels first).

Shards: rows go into a shard until the next would take it over ``--shard-size`` (samples, or
bytes as stored before Parquet's Zstandard compression; default 256 MB), in row groups of at
most :data:`ROW_GROUP_ROWS` rows or :data:`ROW_GROUP_BYTES` bytes (a loader reads a few rows
without a whole shard; ``datasets`` itself uses 100 rows for image data, but pyarrow holds a
few copies of a row group while it encodes it: peak memory ~230 MB whatever the tree's size,
against ~330 MB at 100 rows and 64 MiB, for the same speed). Dictionary encoding and
statistics only for the string columns (min/max of image bytes would only bloat the footer).
Each shard is hashed as it is written; the record lists it for ``verify-export``.

The card says what the images of this export are, per config x version, from the image
headers the export reads anyway (:func:`image_kind`: dtype, grey or RGB): never a fixed
claim about a version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from lungsegdb_cli._version import __version__
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.errors import UsageError
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
from lungsegdb_cli.utils.install import extra_hint
from lungsegdb_cli.utils.progress import Progress

#: Our split names -> the ``datasets`` split names.
SPLIT_NAMES: dict[str, str] = {"train": "train", "val": "validation", "test": "test"}
CARD = "README.md"
#: The columns, in order, as ``datasets`` feature dtypes.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("image", "binary"),
    ("mask", "binary"),
    ("stem", "string"),
    ("variant", "string"),
    ("version", "string"),
    ("group", "string"),
)
STRING_COLUMNS = [name for name, kind in COLUMNS if kind == "string"]
ROW_GROUP_ROWS = 50
ROW_GROUP_BYTES = 32 << 20
#: Zstandard at level 1: as fast to write as Snappy (pyarrow's default) and a quarter smaller
#: on CT slices; every Parquet reader ``datasets`` uses reads it.
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1
EXTRA_HINT = extra_hint("hf", "pip install pyarrow")

#: How to decode a row, as the card shows it (also tested as written).
DECODE = '''import io
import tifffile

def decode(row):
    """A row's image as stored (int16 HU, uint8 grey or RGB, samples last) and its mask as
    0/1 uint8."""
    with tifffile.TiffFile(io.BytesIO(row["image"])) as tif:
        page = tif.pages[0]
        image = page.asarray()
        if image.ndim == 3 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
            image = image.transpose(1, 2, 0)  # a planar file: its samples last, as in the table
    mask = tifffile.imread(io.BytesIO(row["mask"]), key=0)
    return image, mask
'''


def require() -> None:
    """Raise :class:`UsageError` (exit 2) naming the ``[hf]`` extra if pyarrow is missing."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "export hf needs pyarrow (the [hf] extra), which is not installed", hint=EXTRA_HINT
        ) from exc


def config_name(variant: str) -> str:
    """``preprocessed data`` -> ``preprocessed``: the ``datasets`` config of a variant."""
    return variant.split()[0]


def features() -> dict[str, Any]:
    """The ``datasets`` features of the columns, as ``Features.to_dict()`` writes them."""
    return {name: {"dtype": kind, "_type": "Value"} for name, kind in COLUMNS}


def utf8(text: str) -> bytes:
    r"""``text`` as UTF-8 for a string column; a name holding bytes that are not UTF-8 (read
    from the file system as surrogates) gets them as ``\xNN`` escapes: Parquet strings must be
    valid UTF-8.

    Examples
    --------
    >>> utf8("café"), utf8("caf\udce9")
    (b'caf\xc3\xa9', b'caf\\xe9')
    """
    raw = text.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace").encode("utf-8")


def _schema() -> Any:
    import pyarrow as pa

    types = {"binary": pa.binary(), "string": pa.string()}
    schema = pa.schema([pa.field(name, types[kind]) for name, kind in COLUMNS])
    meta = {"huggingface": json.dumps({"info": {"features": features()}}, sort_keys=True)}
    return schema.with_metadata(meta)


class _Column:
    """One column of the row group being filled: the values' bytes side by side in a buffer
    reused from one row group to the next (no fresh memory to fault in per row group), and
    their offsets. :meth:`array` is the Arrow array over them, built from its two buffers:
    no per-value conversion, and no pandas import (``pa.array`` imports pandas when it is
    installed)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.data = bytearray(1 << 16)
        self.pos = 0
        self.ends: list[int] = []

    def append(self, value: bytes) -> None:
        end = self.pos + len(value)
        if end > len(self.data):
            grown = bytearray(max(end, 2 * len(self.data)))
            grown[: self.pos] = memoryview(self.data)[: self.pos]
            self.data = grown
        self.data[self.pos : end] = value
        self.pos = end
        self.ends.append(end)

    def array(self) -> Any:
        import numpy as np
        import pyarrow as pa

        offsets = np.zeros(len(self.ends) + 1, dtype=np.int32)
        offsets[1:] = self.ends
        arrow_type = pa.binary() if self.kind == "binary" else pa.string()
        data = pa.py_buffer(memoryview(self.data)[: self.pos])
        return pa.Array.from_buffers(
            arrow_type, len(self.ends), [None, pa.py_buffer(offsets), data]
        )

    def clear(self) -> None:
        self.pos = 0
        self.ends = []


class _SplitWriter:
    """The shards of one config x split: rows buffered into row groups, shards rolled at the
    size; at :meth:`close` the shards get their final ``-of-NNNNN`` names."""

    def __init__(
        self, staged: Path, config: str, split: str, size: ShardSize, buf: dict[str, _Column]
    ) -> None:
        self.staged, self.config, self.split, self.size = staged, config, split, size
        self.schema = _schema()
        self.done: list[tuple[Path, HashingSink, int]] = []
        self.sink: HashingSink | None = None
        self.writer: Any = None
        self.rows = 0  # in the open shard
        self.nbytes = 0  # in the open shard (as stored)
        self.buf = buf  # shared by the writers of one export, one after the other
        self.buf_rows = self.buf_bytes = 0

    def _open(self) -> None:
        import pyarrow.parquet as pq

        path = self.staged / self.config / f".{self.split}-{len(self.done):05d}.parquet"
        self.sink = open_sink(path)
        self.writer = pq.ParquetWriter(
            self.sink,
            self.schema,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
            use_dictionary=STRING_COLUMNS,
            write_statistics=STRING_COLUMNS,
        )
        self.rows = self.nbytes = 0

    def _flush(self) -> None:
        import pyarrow as pa

        n = self.buf_rows
        if n:
            table = pa.Table.from_arrays([c.array() for c in self.buf.values()], schema=self.schema)
            self.writer.write_table(table, row_group_size=n)
            del table  # the buffers are reused: nothing may still look at them
            for column in self.buf.values():
                column.clear()
            self.buf_rows = self.buf_bytes = 0

    def _finish_shard(self) -> None:
        self._flush()
        self.writer.close()
        assert self.sink is not None
        self.sink.close()
        self.done.append((Path(self.sink.path), self.sink, self.rows))
        self.sink = self.writer = None

    def add(self, sample: Sample) -> None:
        if self.sink is not None and self.size.full(self.rows, self.nbytes, sample.nbytes):
            self._finish_shard()
        if self.sink is None:
            self._open()
        p = sample.pair
        for name, value in (
            ("image", sample.image),
            ("mask", sample.mask),
            ("stem", utf8(p.stem)),
            ("variant", utf8(p.variant)),
            ("version", utf8(p.version)),
            ("group", utf8(p.group)),
        ):
            self.buf[name].append(value)
        self.rows += 1
        self.buf_rows += 1
        self.nbytes += sample.nbytes
        self.buf_bytes += sample.nbytes
        if self.buf_rows >= ROW_GROUP_ROWS or self.buf_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def close(self) -> list[Shard]:
        if self.sink is not None:
            self._finish_shard()
        total = len(self.done)
        shards: list[Shard] = []
        for i, (path, sink, rows) in enumerate(self.done):
            rel = f"{self.config}/{self.split}-{i:05d}-of-{total:05d}.parquet"
            os.rename(path, self.staged / rel)
            shards.append(sink.shard(rel, rows))
        return shards

    def abort(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            finally:
                if self.sink is not None:
                    self.sink.close()


def _order(pairs: list[Pair]) -> list[Pair]:
    """Config (variant) by config, split by split, tree order within."""
    rank = {v: i for i, v in enumerate(dataset.VARIANTS)}
    return sorted(pairs, key=lambda p: (rank[p.variant], SPLITS.index(str(p.split))))


def pack(
    pairs: list[Pair],
    size: ShardSize,
    staged: Path,
    progress: Progress,
    workers: int | None,
    limit: int,
    *,
    tree: dict[str, str | None] | None = None,
) -> Packed:
    """Write the shards and the card of ``pairs`` (each with its split) into ``staged``;
    ``tree``: the manifest's and the archive's SHA-256 as recorded (:func:`made_from`)."""
    import pyarrow  # noqa: F401 - checked before the run by require()

    packed = Packed()
    kinds: dict[tuple[str, str], set[str]] = {}  # (config, version) -> image kinds
    counts: dict[str, dict[str, int]] = {}
    by_split: dict[str, dict[str, list[Shard]]] = {}
    nbytes: dict[tuple[str, str], int] = {}
    columns = {name: _Column(kind) for name, kind in COLUMNS}
    writer: _SplitWriter | None = None
    ordered = _order(pairs)
    try:
        with read_samples(ordered, limit=limit, progress=progress, workers=workers) as reader:
            for sample in reader:
                p = sample.pair
                config, split = config_name(p.variant), SPLIT_NAMES[str(p.split)]
                if writer is None or (writer.config, writer.split) != (config, split):
                    if writer is not None:
                        by_split[writer.config][writer.split] = writer.close()
                    writer = _SplitWriter(staged, config, split, size, columns)
                    by_split.setdefault(config, {})
                counts.setdefault(config, dict.fromkeys(SPLITS, 0))[str(p.split)] += 1
                nbytes[config, split] = nbytes.get((config, split), 0) + arrow_bytes(sample)
                kinds.setdefault((config, p.version), set()).add(
                    image_kind(sample.shape, sample.dtype)
                )
                writer.add(sample)
            if writer is not None:
                by_split[writer.config][writer.split] = writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.abort()
    packed.sources = reader.sources
    for config, splits in by_split.items():
        for shards in splits.values():
            packed.shards.extend(shards)
        variant = next(v for v in dataset.VARIANTS if config_name(v) == config)
        packed.datasets[config] = {
            "variant": variant,
            "pairs": counts[config],
            "shards": sum(len(s) for s in splits.values()),
            "bytes": sum(s.size for ss in splits.values() for s in ss),
        }
    packed.texts[CARD] = card(by_split, nbytes, kinds, tree or {})
    return packed


def image_kind(shape: tuple[int, ...], dtype: str) -> str:
    """What an image decodes to, for the card: its dtype and grey or RGB, from its header.

    Examples
    --------
    >>> image_kind((512, 512), "int16"), image_kind((64, 64, 3), "uint8")
    ('`int16` grey (H x W)', '`uint8` RGB (H x W x 3)')
    >>> image_kind((64, 64, 4), "uint8"), image_kind((64, 64, 2), ""), image_kind((), "")
    ('`uint8` RGBA (H x W x 4)', 'unknown dtype, 2 samples per pixel (H x W x 2)', 'unknown')
    """
    what = f"`{dtype}`" if dtype else "unknown dtype"
    if len(shape) == 2:
        return f"{what} grey (H x W)"
    if len(shape) == 3:
        n = shape[2]
        name = {3: "RGB", 4: "RGBA"}.get(n)
        how = f"{what} {name}" if name else f"{what}, {n} samples per pixel"
        return f"{how} (H x W x {n})"
    return "unknown"


def arrow_bytes(sample: Sample) -> int:
    """The bytes a row takes in Arrow memory (values and offsets): what ``datasets`` counts as
    a split's ``num_bytes``."""
    p = sample.pair
    strings = sum(len(utf8(t)) for t in (p.stem, p.variant, p.version, p.group))
    return sample.nbytes + strings + 4 * len(COLUMNS)


def plan_pack(
    pairs: list[Pair], size: ShardSize, tree: dict[str, str | None] | None = None
) -> Callable[..., Packed]:
    """The packing step of an ``hf`` export's plan: ``(staged, progress, workers, limit)``."""
    return partial(pack, pairs, size, tree=tree or {})


# ---------------------------------------------------------------------------------------------
# The card
# ---------------------------------------------------------------------------------------------
def _q(text: str) -> str:
    """A YAML scalar: JSON's double-quoted string is valid YAML."""
    return json.dumps(text, ensure_ascii=True)


def _size_category(n: int) -> str:
    for top, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < top:
            return label
    return "100K<n<1M"


def front_matter(
    by_split: dict[str, dict[str, list[Shard]]], nbytes: dict[tuple[str, str], int]
) -> str:
    """The card's YAML: one config per variant, its splits' files, features and counts."""
    total = sum(s.samples for splits in by_split.values() for ss in splits.values() for s in ss)
    lines = [
        "---",
        f"pretty_name: {_q(dataset.NAME)}",
        "license: unknown",
        "task_categories:",
        "- image-segmentation",
        "tags:",
        "- medical",
        "- ct",
        "- lung",
        "- tiff",
        "size_categories:",
        f"- {_q(_size_category(total))}",
        "configs:",
    ]
    for i, (config, splits) in enumerate(by_split.items()):
        lines += [f"- config_name: {_q(config)}"]
        if i == 0:
            lines += ["  default: true"]
        lines += ["  data_files:"]
        for split in splits:
            lines += [f"  - split: {_q(split)}", f"    path: {_q(f'{config}/{split}-*.parquet')}"]
    lines += ["dataset_info:"]
    for config, splits in by_split.items():
        lines += [f"- config_name: {_q(config)}", "  features:"]
        for name, kind in COLUMNS:
            lines += [f"  - name: {_q(name)}", f"    dtype: {_q(kind)}"]
        lines += ["  splits:"]
        for split, shards in splits.items():
            lines += [
                f"  - name: {_q(split)}",
                f"    num_bytes: {nbytes.get((config, split), 0)}",
                f"    num_examples: {sum(s.samples for s in shards)}",
            ]
        lines += [
            f"  download_size: {sum(s.size for ss in splits.values() for s in ss)}",
            f"  dataset_size: {sum(nbytes.get((config, s), 0) for s in splits)}",
        ]
    lines += ["---", ""]
    return "\n".join(lines)


def kinds_table(kinds: dict[tuple[str, str], set[str]]) -> str:
    """The card's table of what the images decode to, per config x version (in config order,
    then version order), as their headers declare it."""
    order = {config_name(v): i for i, v in enumerate(dataset.VARIANTS)}
    rows = ["| config | version | image |", "|---|---|---|"]
    for (config, version), seen in sorted(
        kinds.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0][1])
    ):
        rows.append(f"| {config} | {version} | {'; '.join(sorted(seen))} |")
    return "\n".join(rows)


def made_from(tree: dict[str, str | None]) -> str:
    """What the card says of the tree the export was made from: only what lungsegdb recorded
    (``manifest_sha256``, ``archive_sha256``: the archive it was extracted from), and that
    export did not verify it (no local path: the card is published).

    Examples
    --------
    >>> made_from({})
    'a LungSegDB tree with no manifest (not extracted by lungsegdb)'
    >>> for part in made_from({"manifest_sha256": "ab", "archive_sha256": "cd"}).split(", "):
    ...     print(part)
    the LungSegDB tree whose manifest has SHA-256 `ab`
    recorded as extracted from the archive with SHA-256 `cd`
    """
    manifest, archive = tree.get("manifest_sha256"), tree.get("archive_sha256")
    if not manifest:
        return "a LungSegDB tree with no manifest (not extracted by lungsegdb)"
    text = f"the LungSegDB tree whose manifest has SHA-256 `{manifest}`"
    if archive:
        text += f", recorded as extracted from the archive with SHA-256 `{archive}`"
    return text


def card(
    by_split: dict[str, dict[str, list[Shard]]],
    nbytes: dict[tuple[str, str], int],
    kinds: dict[tuple[str, str], set[str]],
    tree: dict[str, str | None],
) -> str:
    """README.md: the front matter, then what the dataset is, how to load and decode a row
    (with what this export's images are, per config x version: ``kinds``), the columns, the
    files, the citation and the licence."""
    first = next(iter(by_split), "preprocessed")
    rows = []
    for config, splits in by_split.items():
        for split, shards in splits.items():
            size = sum(s.size for s in shards)
            rows.append(
                f"| {config} | {split} | {sum(s.samples for s in shards):,} | "
                f"{len(shards)} | {size / 1e6:,.1f} MB |"
            )
    body = f"""# {dataset.NAME}

{dataset.DESCRIPTION}

Exported by lungsegdb {__version__} (`lungsegdb export hf`) from {made_from(tree)}.
The export packs the files as they were on disk: it checks each image's header and each
mask, but does not check the files against the manifest (`lungsegdb verify` does). The
splits are the ones in `lungsegdb-splits.json` beside this card (our `val` is `validation`).

## Load

```python
from datasets import load_dataset

ds = load_dataset("path/to/this/folder", "{first}")   # configs: {", ".join(by_split)}
```

## Decode

`image` holds the image file's bytes exactly as stored in the tree and `mask` a TIFF of the
mask as 0/1 `uint8`: `decode(row)` below gives every value, dtype and shape as in the tree,
the same arrays as `lungsegdb_cli.load_pair` (samples last, a planar RGB file too). The images
of this export, as their TIFF headers declare them:

{kinds_table(kinds)}

```python
{DECODE}
image, mask = decode(ds["train"][0])
```

## Columns

| column | type | what |
|---|---|---|
| image | binary | the image file (TIFF) as stored |
| mask | binary | the mask as a TIFF of 0/1 `uint8` |
| stem | string | the file name without extension |
| variant | string | `preprocessed data` or `raw data` |
| version | string | `V1` (LIDC-IDRI) or `V2` (Kaggle chest CT) |
| group | string | the group key the split kept together |

## Files

| config | split | rows | shards | size |
|---|---|---|---|---|
{chr(10).join(rows)}

## Citation

{dataset.CITATION}

## Licence

{dataset.LICENCE}
"""
    return front_matter(by_split, nbytes) + body
