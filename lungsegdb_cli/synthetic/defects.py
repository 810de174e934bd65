"""synth ``--defects``: one of each validate finding planted into the tree, from a table.

Each row of :data:`DEFECTS` is one defect: its code, the group it goes into, what it writes
as the image and as the mask of a fresh pair (or nothing), which of the two files the finding
names, and the message. Each defect uses a stem past the clean pairs of its group, so it gives
exactly its own code. :data:`JUNK` lists the OS junk files (never a finding); ``raw data/V2``
gets only junk, so it stays a group without findings. A planted defect's severity is the one
validate reports for its code (:data:`lungsegdb_cli.checks.validate.CODES`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lungsegdb_cli.checks import validate
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.synthetic.phantom import EXT, render, tiff_bytes, write_file

#: The pseudo-code of planted OS junk, and its severity: validate never reports it.
JUNK_CODE = "junk"
JUNK_SEVERITY = "none"

#: AppleDouble header (what macOS writes as ``._name``): magic, version, filler, no entries.
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x00" + b"\x00" * 4054
DS_STORE = b"\x00\x00\x00\x01Bud1" + b"\x00" * 6136
THUMBS_DB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4088
DESKTOP_INI = b"[.ShellClassInfo]\r\nIconResource=C:\\Windows\\System32\\imageres.dll,-3\r\n"


def severity(code: str) -> str:
    """The severity validate gives ``code`` by default; ``none`` for junk."""
    return JUNK_SEVERITY if code == JUNK_CODE else validate.CODES[code]


@dataclass(frozen=True)
class Defect:
    """One planted defect and the validate finding it must produce.

    ``path`` is relative to the LungSegDB folder (with ``/``) when ``where`` is ``tree``; for
    ``where == "archive"`` (junk that exists only in the archive) it is the member name.
    """

    code: str
    path: str
    message: str
    group: str | None = None
    stem: str | None = None
    where: str = "tree"

    @property
    def severity(self) -> str:
        return severity(self.code)

    def to_dict(self) -> dict[str, Any]:
        """The fields in their order, with ``severity`` after ``code``."""
        doc = dataclasses.asdict(self)
        return {"code": doc.pop("code"), "severity": self.severity, **doc}


# ---------------------------------------------------------------------------------------------
# What a defect writes: (array of a valid file, seed) -> the bytes written instead
# ---------------------------------------------------------------------------------------------
Content = Callable[[np.ndarray, int], bytes]


def _valid(arr: np.ndarray, _seed: int) -> bytes:
    return tiff_bytes(arr)


def _truncated(arr: np.ndarray, _seed: int) -> bytes:
    data = tiff_bytes(arr)
    return data[: len(data) // 2]


def _zero_bytes(_arr: np.ndarray, _seed: int) -> bytes:
    return b""


def _soft(mask: np.ndarray, seed: int) -> bytes:
    return tiff_bytes(soften(mask, np.random.default_rng(np.random.SeedSequence([seed, 7, 1]))))


def _rgb(mask: np.ndarray, _seed: int) -> bytes:
    return tiff_bytes(np.repeat(mask[:, :, None], 3, axis=2))


def _half_size(mask: np.ndarray, _seed: int) -> bytes:
    return tiff_bytes(np.ascontiguousarray(mask[::2, ::2]))


def _empty(mask: np.ndarray, _seed: int) -> bytes:
    return tiff_bytes(np.zeros_like(mask))


def soften(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A non-binary version of a 0/255 mask: box-blurred edges plus a little JPEG-like noise."""
    m = mask.astype(np.float32)
    for axis in (0, 1):
        m = (
            np.roll(m, -2, axis)
            + np.roll(m, -1, axis)
            + m
            + np.roll(m, 1, axis)
            + np.roll(m, 2, axis)
        ) / 5.0
    m += rng.normal(0.0, 2.0, m.shape).astype(np.float32)
    return np.clip(np.rint(m), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Row:
    """One planted defect: ``image``/``mask`` say what is written (``None``: no such file).

    ``names`` is the file the finding names (``image`` or ``mask``). ``message`` may use
    ``{h}``, ``{w}`` (the pair's shape) and ``{h2}``, ``{w2}`` (half of it). ``twin`` also
    writes the image as ``<stem>.tif`` next to ``<stem>.TIF`` (and the finding names the twin).
    """

    code: str
    variant: str
    version: str
    image: Content | None
    mask: Content | None
    names: str
    message: str
    twin: bool = False


_PRE, _RAW = dataset.VARIANTS
_V1, _V2 = dataset.VERSIONS

#: Every planted defect, in the order they are planted and listed.
DEFECTS: tuple[Row, ...] = (
    # code, variant, version, image, mask, the file named, message
    Row("missing-mask", _PRE, _V1, _valid, None, "image", "image without a mask"),
    Row("missing-image", _PRE, _V1, None, _valid, "mask", "mask without an image"),
    Row("duplicate-stem", _PRE, _V1, _valid, _valid, "image",
        "two images with one stem (.TIF and .tif)", twin=True),
    Row("non-binary-mask", _PRE, _V2, _valid, _soft, "mask",
        "mask with grey values (blurred, JPEG-like edges), not 0/255"),
    Row("multi-channel-mask", _PRE, _V2, _valid, _rgb, "mask",
        "RGB mask (three equal channels, 0/255)"),
    Row("unreadable", _RAW, _V1, _truncated, _valid, "image",
        "truncated TIFF (first half of the file)"),
    Row("unreadable", _RAW, _V1, _valid, _zero_bytes, "mask", "zero-byte mask file"),
    Row("shape-mismatch", _RAW, _V1, _valid, _half_size, "mask", "mask {h2}x{w2}, image {h}x{w}"),
    Row("empty-mask", _RAW, _V1, _valid, _empty, "mask", "mask with no foreground (all 0)"),
)  # fmt: skip

#: OS junk planted into ``raw data/V2`` (``{images}``, ``{masks}``, ``{group}`` are its
#: folders), and the one at the top of the LungSegDB folder (no group).
JUNK: tuple[tuple[str, bytes], ...] = (
    (".DS_Store", DS_STORE),
    ("{images}/.DS_Store", DS_STORE),
    ("{images}/._1" + EXT, APPLEDOUBLE),
    ("{masks}/Thumbs.db", THUMBS_DB),
    ("{group}/desktop.ini", DESKTOP_INI),
)
JUNK_GROUP = dataset.Group(_RAW, _V2)
JUNK_MESSAGE = "OS junk: never a finding"
MACOSX_MESSAGE = "macOS resource fork folder in the archive: never a finding"


@dataclass
class Planted:
    """What :func:`plant_defects` planted, and the members that exist only in the archive
    (name relative to the LungSegDB folder, or from the archive root for ``__MACOSX/``)."""

    defects: list[Defect] = field(default_factory=list)
    archive_only: dict[str, bytes] = field(default_factory=dict)


@dataclass
class _Planter:
    root: Path
    seed: int
    counts: dict[dataset.Group, int]
    like_kaggle: bool = False
    planted: Planted = field(default_factory=Planted)
    _next: dict[dataset.Group, int] = field(default_factory=dict)

    def stem(self, group: dataset.Group) -> str:
        n = self._next.get(group, self.counts[group] + 1)
        self._next[group] = n + 1
        return str(n)

    def pair(self, group: dataset.Group, stem: str) -> tuple[np.ndarray, np.ndarray]:
        """A fresh, valid pair for a defect, from its own RNG (independent of clean pairs)."""
        pairs = render(self.seed + 1_000_003, group.version, int(stem), self.like_kaggle)
        return pairs[group.variant]

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, data)

    def plant(self, row: Row) -> Defect:
        """Write the files of ``row`` under a new stem; the defect they give."""
        g = dataset.Group(row.variant, row.version)
        s = self.stem(g)
        image, mask = self.pair(g, s)
        paths = {"image": f"{g.images}/{s}{EXT}", "mask": f"{g.masks}/{s}{EXT}"}
        if row.image is not None:
            self.write(paths["image"], row.image(image, self.seed))
        if row.mask is not None:
            self.write(paths["mask"], row.mask(mask, self.seed))
        (h, w), (h2, w2) = mask.shape, (mask.shape[0] // 2, mask.shape[1] // 2)
        message = row.message.format(h=h, w=w, h2=h2, w2=w2)
        if not row.twin:
            return Defect(row.code, paths[row.names], message, g.label, s)
        twin = f"{g.images}/{s}{EXT.lower()}"
        if (self.root / twin).exists():  # case-insensitive file system: twin in the archive
            self.planted.archive_only[twin] = tiff_bytes(image)
            return Defect(row.code, twin, message, g.label, s, "archive")
        self.write(twin, tiff_bytes(image))
        return Defect(row.code, twin, message, g.label, s)

    def plant_junk(self, wrap_prefix: str) -> None:
        g = JUNK_GROUP
        for template, data in JUNK:
            rel = template.format(images=g.images, masks=g.masks, group=g.label)
            self.write(rel, data)
            group = None if rel == ".DS_Store" else g.label
            self.planted.defects.append(Defect(JUNK_CODE, rel, JUNK_MESSAGE, group, None))
        # macOS "Compress" puts __MACOSX/ at the archive root, mirroring the compressed folder
        mac = f"__MACOSX/{wrap_prefix}{dataset.DATASET_DIRNAME}/{g.images}/._1{EXT}"
        self.planted.archive_only[mac] = APPLEDOUBLE
        self.planted.defects.append(Defect(JUNK_CODE, mac, MACOSX_MESSAGE, where="archive"))


def plant_defects(
    root: Path,
    seed: int,
    counts: dict[dataset.Group, int],
    wrap_prefix: str,
    like_kaggle: bool = False,
) -> Planted:
    """Plant every row of :data:`DEFECTS`, then the junk, into the tree at ``root``.

    ``counts`` are the clean pairs per group (defect stems come after them); ``wrap_prefix``
    (``""`` or ``"<wrap>/"``) places the ``__MACOSX/`` twin; ``like_kaggle``: the defects'
    pairs are drawn like the clean ones then. Returns what was planted.
    """
    p = _Planter(root, seed, counts, like_kaggle)
    for row in DEFECTS:
        p.planted.defects.append(p.plant(row))
    p.plant_junk(wrap_prefix)
    return p.planted
