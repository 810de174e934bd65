"""``lungsegdb synth``: a synthetic, LungSegDB-shaped tree and archive for tests and offline CI.

What it writes into ``OUT`` (see ``docs/synth.md``)::

    OUT/LungSegDB/<variant>/<version>/CT_Images/<n>.TIF     (the documented tree)
    OUT/LungSegDB/<variant>/<version>/CT_Masks/<n>.TIF
    OUT/LungSegDB.zip | OUT/LungSegDB.tar.gz                   (unless --format none)
    OUT/defects.json                                           (with --defects)
    OUT/synth.json                                             (the result; marks OUT as synth's)

Each slice is a small phantom: a body ellipse with fat, ribs, spine, heart and table, two
lung-shaped regions that are dark (with vessels), smooth texture and noise, so that files
compress about as real CT does. The mask is the lung region, ``uint8`` 0/255.

V1 slices are 512x512; ``raw data`` holds int16 HU-like values (-1024 .. ~1500),
``preprocessed data`` the same slice windowed to uint8 grey. V2 slices have a size drawn per
pair (H 300-520, W 400-620) and are RGB uint8 in both variants. ``preprocessed data`` and
``raw data`` of the same version and index show the same slice, as in the real dataset.

Determinism: every pair draws from its own RNG, seeded from ``(seed, version, index)``; TIFFs
carry no date; archives have a fixed timestamp, fixed owners and modes, and members in sorted
(natural) order; the gzip header has no name and no mtime. Same seed and same versions of
numpy, tifffile and zlib: byte-identical tree and archive, whatever the number of workers.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import math
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lungsegdb_cli import dataset
from lungsegdb_cli.errors import LocalError, LungSegDBError, UsageError, from_os_error
from lungsegdb_cli.fsutil import atomic_write_text, check_free_space
from lungsegdb_cli.progress import Progress, ensure

#: Pairs per group when neither ``--pairs`` nor ``--scale`` is given.
DEFAULT_PAIRS = 4
#: Upper bound of ``--scale`` (10x the published counts is ~35 GB on disk).
MAX_SCALE = 10.0
MAX_PAIRS = 100_000
FORMATS: tuple[str, ...] = ("zip", "tar.gz", "none")
#: Deflate level of both archive formats: on synth slices level 6 is ~4 % smaller at 3-5x the
#: time (measured), so level 1.
COMPRESSLEVEL = 1
#: The fixed timestamp of every archive member (2024-01-01 00:00:00).
ARCHIVE_DATE_TIME = (2024, 1, 1, 0, 0, 0)
ARCHIVE_EPOCH = 1704067200
ARCHIVE_BASENAME = dataset.DATASET_DIRNAME
RESULT_FILE = "synth.json"
DEFECTS_FILE = "defects.json"
GENERATOR = "lungsegdb synth"
TIFF_SOFTWARE = "lungsegdb synth"

V1_SHAPE = (512, 512)
V2_HEIGHT = (300, 520)
V2_WIDTH = (400, 620)
#: HU window mapped onto 0..255 for ``preprocessed data`` V1 and both V2 variants.
PRE_WINDOW = (-1000.0, 400.0)
RAW_V2_WINDOW = (-1100.0, 500.0)
HU_MIN, HU_MAX = -1024, 3071

#: Severity of each validate code a planted defect must produce; ``junk`` produces none.
SEVERITY: dict[str, str] = {
    "missing-mask": "error",
    "missing-image": "error",
    "duplicate-stem": "error",
    "unreadable": "error",
    "shape-mismatch": "error",
    "non-binary-mask": "warning",
    "empty-mask": "warning",
    "multi-channel-mask": "warning",
    "junk": "none",
}

_VERSION_IDS = {v: i for i, v in enumerate(dataset.VERSIONS)}
_EXT = ".TIF"


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------
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
        return SEVERITY[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "group": self.group,
            "stem": self.stem,
            "where": self.where,
        }


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    sha256: str
    size: int
    format: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
        }


@dataclass(frozen=True)
class SynthResult:
    out: Path
    tree: Path
    archive: ArchiveInfo | None
    pairs: dict[str, int]
    files: int
    bytes: int
    seed: int
    wrap: str | None
    defects: list[Defect] = field(default_factory=list)
    defects_file: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "generator": GENERATOR,
            "out": str(self.out),
            "tree": str(self.tree),
            "archive": self.archive.to_dict() if self.archive else None,
            "pairs": dict(self.pairs),
            "files": self.files,
            "bytes": self.bytes,
            "seed": self.seed,
            "wrap": self.wrap,
            "defects": [d.to_dict() for d in self.defects],
            "defects_file": str(self.defects_file) if self.defects_file else None,
        }


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------
def pair_counts(pairs: int | None, scale: float | None) -> dict[dataset.Group, int]:
    """Clean pairs per group for ``--pairs`` / ``--scale`` (mutually exclusive)."""
    if pairs is not None and scale is not None:
        raise UsageError(
            "--pairs and --scale are mutually exclusive",
            hint="Give --pairs N (pairs per group) or --scale F (fraction of published counts).",
        )
    if scale is not None:
        if not math.isfinite(scale) or scale <= 0 or scale > MAX_SCALE:
            raise UsageError(
                f"--scale must be a number > 0 and <= {MAX_SCALE:g}, got {scale!r}",
                hint="--scale 1.0 writes the published counts (1,800 V1 / 700 V2 pairs per group).",
            )
        return {g: max(1, round(g.published_pairs * scale)) for g in dataset.GROUPS}
    n = DEFAULT_PAIRS if pairs is None else pairs
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > MAX_PAIRS:
        raise UsageError(
            f"--pairs must be a whole number from 1 to {MAX_PAIRS:,}, got {pairs!r}",
            hint="--pairs N writes N image/mask pairs per variant x version group.",
        )
    return {g: n for g in dataset.GROUPS}


def _check_wrap(wrap: str | None) -> str | None:
    if wrap is None:
        return None
    text = wrap.strip().replace("\\", "/").strip("/")
    parts = text.split("/") if text else []
    bad = (
        not parts
        or "\x00" in text
        or wrap.strip().startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", text) is not None
        or any(p in ("", ".", "..") for p in parts)
    )
    if bad:
        raise UsageError(
            f"--wrap must be a relative folder name, got {wrap!r}",
            hint="For example --wrap MyUpload (the archive then holds MyUpload/LungSegDB/...).",
        )
    return "/".join(parts)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(
            f"--seed must be a whole number >= 0, got {seed!r}",
            hint="Any non-negative integer; the same seed gives the same bytes.",
        )
    return seed


def _prepare_out(out_dir: Path) -> Path:
    out = Path(out_dir).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"OUT is not a folder: {out}",
            hint="Give a folder (new or empty) to write the synthetic tree into.",
            path=str(out),
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError) as exc:
        raise UsageError(
            f"OUT cannot be created, a part of its path is a file: {out}",
            hint="Give a folder (new or empty) to write the synthetic tree into.",
            path=str(out),
        ) from exc
    except OSError as exc:
        raise from_os_error(exc, f"creating {out}") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise LocalError(
            f"Permission denied: OUT is not writable: {out}",
            hint="Choose a writable folder for OUT.",
            path=str(out),
        )
    ours = _previous_result(out) is not None
    theirs = [
        p.name
        for p in (out / dataset.DATASET_DIRNAME, *(_archive_path(out, f) for f in FORMATS[:2]))
        if p.exists() or p.is_symlink()
    ]
    if theirs and not ours:
        raise UsageError(
            f"OUT already holds {', '.join(theirs)} that synth did not write: {out}",
            hint="Give a new or empty folder; synth only replaces its own earlier output.",
            path=str(out),
        )
    return out


def _previous_result(out: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((out / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("generator") == GENERATOR else None


def _archive_path(out: Path, fmt: str) -> Path:
    return out / f"{ARCHIVE_BASENAME}.{fmt}"


def estimate_bytes(counts: dict[dataset.Group, int], fmt: str) -> int:
    """A generous estimate of the bytes synth writes (tree + archive), for the space check."""
    tree = 0
    for g, n in counts.items():
        if g.version == dataset.VERSIONS[0]:
            pixels, image_bytes = V1_SHAPE[0] * V1_SHAPE[1], 2  # int16 in raw data
        else:
            pixels, image_bytes = V2_HEIGHT[1] * V2_WIDTH[1], 3  # RGB
        tree += n * pixels * (image_bytes + 1) + n * 1024
    return tree + (tree // 2 if fmt != "none" else 0) + (1 << 20)


# ---------------------------------------------------------------------------------------------
# The phantom
# ---------------------------------------------------------------------------------------------
def pair_rng(seed: int, version: str, index: int) -> np.random.Generator:
    """The RNG of one pair: seeded from ``(seed, version, index)`` only."""
    return np.random.default_rng(np.random.SeedSequence([seed, _VERSION_IDS[version], index]))


@functools.lru_cache(maxsize=16)
def _ramp(cell: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(cell, dtype=np.float32) / np.float32(cell)
    return 1.0 - t, t


def _smooth_field(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """A smooth random field (~unit std) with features about ``cell`` pixels wide.

    Bilinear upsampling of a coarse normal field by an integer factor, with broadcasting
    only (no gathers, no BLAS: its thread pool fights the worker processes for the cores).
    """
    sh, sw = -(-h // cell) + 1, -(-w // cell) + 1
    small = rng.standard_normal((sh, sw), dtype=np.float32)
    a, b = _ramp(cell)
    rows = small[:-1, None, :] * a[:, None] + small[1:, None, :] * b[:, None]
    rows = rows.reshape((sh - 1) * cell, sw)[:h]
    out = rows[:, :-1, None] * a + rows[:, 1:, None] * b
    return out.reshape(h, (sw - 1) * cell)[:, :w]


def _box(
    cx: float, cy: float, rx: float, ry: float, h: int, w: int
) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """The window around an ellipse's bounding box, and its local (y, x) coordinates."""
    y0, y1 = max(0, math.floor(cy - ry) - 1), min(h, math.ceil(cy + ry) + 2)
    x0, x1 = max(0, math.floor(cx - rx) - 1), min(w, math.ceil(cx + rx) + 2)
    y = np.arange(y0, y1, dtype=np.float32)[:, None]
    x = np.arange(x0, x1, dtype=np.float32)[None, :]
    return slice(y0, y1), slice(x0, x1), y, x


def phantom(
    rng: np.random.Generator, h: int, w: int, *, fov: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A chest CT slice in HU (float32, HxW) and its lung mask (bool, HxW)."""
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    u = rng.uniform

    cx = w / 2 + u(-0.02, 0.02) * w
    cy = h / 2 + u(0.0, 0.04) * h
    bax, bay = w * u(0.40, 0.45), h * u(0.30, 0.35)
    bdx, bdy = (x - cx) / bax, (y - cy) / bay
    body_r2 = bdx * bdx + bdy * bdy
    body = body_r2 < 1.0
    fat_t = u(0.05, 0.09)
    inner = body_r2 < (1.0 - fat_t) ** 2

    fat, soft = np.float32(-100.0 + 15.0 * u(-1, 1)), np.float32(35.0 + 10.0 * u(-1, 1))
    texture = _smooth_field(rng, h, w, 32)
    tissue = np.where(inner, soft, fat)
    tissue += np.float32(25.0) * texture
    hu = np.where(body, tissue, np.float32(-1000.0))

    # table under the body
    top = cy + bay * u(1.04, 1.10)
    t0, t1 = min(h, math.ceil(top)), min(h, math.ceil(top + max(3.0, h * 0.012)))
    xs = slice(max(0, math.floor(cx - bax * 0.95)), min(w, math.ceil(cx + bax * 0.95)))
    hu[t0:t1, xs] = 150.0

    # heart and great vessels: slightly denser soft tissue, left of the midline
    hx, hy = cx + bax * u(0.02, 0.10), cy + bay * u(0.05, 0.15)
    hax, hay = bax * u(0.22, 0.28), bay * u(0.28, 0.34)
    ys, xs, ly, lx = _box(hx, hy, hax, hay, h, w)
    heart = ((lx - hx) / hax) ** 2 + ((ly - hy) / hay) ** 2 < 1.0
    hu[ys, xs][heart] += 20.0

    # spine: cortical ring and cancellous core
    sr, sx, sy = bay * u(0.09, 0.11), cx, cy + bay * u(0.62, 0.68)
    ys, xs, ly, lx = _box(sx, sy, sr, sr, h, w)
    sd2 = (lx - sx) ** 2 + (ly - sy) ** 2
    win = hu[ys, xs]
    win[sd2 < sr * sr] = 1150.0 + 150.0 * u(-1, 1)
    win[sd2 < (0.7 * sr) ** 2] = 280.0 + 60.0 * u(-1, 1)

    # ribs: small bony ellipses along the inside of the body wall
    for ang in np.linspace(-2.6, 2.6, 10, dtype=np.float32) + u(-0.1, 0.1):
        rx = cx + bax * 0.9 * math.sin(float(ang))
        ry = cy - bay * 0.9 * math.cos(float(ang))
        rr = bay * u(0.04, 0.06)
        ys, xs, ly, lx = _box(rx, ry, rr * 1.6, rr, h, w)
        rib = ((lx - rx) / (rr * 1.6)) ** 2 + ((ly - ry) / rr) ** 2 < 1.0
        hu[ys, xs][rib] = 700.0 + 200.0 * u(-1, 1)

    # two lungs: perturbed ellipses, flattened on the side facing the heart
    lungs = np.zeros((h, w), dtype=bool)
    for side in (-1.0, 1.0):
        size = 1.0 if side < 0 else u(0.85, 0.95)
        lcx = cx + side * bax * u(0.40, 0.46)
        lcy = cy - bay * u(0.0, 0.08)
        lax, lay = bax * u(0.27, 0.33) * size, bay * u(0.56, 0.68)
        ys, xs, ly, lx = _box(lcx, lcy, lax * 1.1, lay * 1.1, h, w)
        dx, dy = (lx - lcx) / lax, (ly - lcy) / lay
        rho = np.sqrt(dx * dx + dy * dy)
        # the boundary r(theta) = 1 + sum a_k cos(k theta + phi_k) - flattening, from cos and
        # sin of theta by multiple-angle identities: only + - * / sqrt, which IEEE rounds the
        # same on every CPU (numpy's SIMD sin/cos/arctan2 do not), so the bytes do not depend
        # on the machine
        inv = np.float32(1.0) / np.maximum(rho, np.float32(1e-6))
        c1, s1 = dx * inv, dy * inv
        c2, s2 = c1 * c1 - s1 * s1, np.float32(2.0) * c1 * s1
        c3, s3 = c2 * c1 - s2 * s1, s2 * c1 + c2 * s1
        c4, s4 = c2 * c2 - s2 * s2, np.float32(2.0) * s2 * c2
        edge = np.ones_like(rho)
        for ck, sk in ((c2, s2), (c3, s3), (c4, s4)):
            amp, phase = u(0.0, 0.03), u(0.0, 2 * math.pi)
            edge += np.float32(amp * math.cos(phase)) * ck
            edge -= np.float32(amp * math.sin(phase)) * sk
        medial = np.maximum(np.float32(0.0), np.float32(-side) * c1)
        edge -= np.float32(u(0.08, 0.16)) * medial * medial
        lungs[ys, xs] |= rho < edge
    lungs &= inner
    # lung parenchyma with vessels: where a fine field peaks, density rises towards soft tissue
    fine = _smooth_field(rng, h, w, 6)
    cut = np.float32(u(1.3, 1.7))
    vessels = np.clip(fine - cut, np.float32(0.0), np.float32(0.6))  # up to ~+250 HU
    lung_hu = np.float32(40.0) * texture
    lung_hu += np.float32(-860.0)
    lung_hu += np.float32(1400.0) * vessels
    lung_hu += np.float32(300.0) * (fine > cut)
    hu = np.where(lungs, lung_hu, hu)

    # quantum noise: triangular (sum of two uniforms, scaled to the drawn std), cheaper than
    # normal draws and indistinguishable after quantisation
    sigma = np.float32(u(14.0, 22.0) * math.sqrt(6.0))
    noise = rng.random((h, w), dtype=np.float32)
    noise += rng.random((h, w), dtype=np.float32)
    noise -= np.float32(1.0)
    noise *= sigma
    hu += noise
    if fov:
        hu = np.where(_outside_fov(h, w), np.float32(HU_MIN), hu)
    return hu, lungs


@functools.lru_cache(maxsize=4)
def _outside_fov(h: int, w: int) -> np.ndarray:
    """Pixels outside the scanner's circular field of view (constant padding in raw CT)."""
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    r = 0.5 * min(h, w) - 1
    out = (x - w / 2) ** 2 + (y - h / 2) ** 2 > r * r
    out.flags.writeable = False
    return out


def window(hu: np.ndarray, lo: float, hi: float, lift: float = 0.0) -> np.ndarray:
    """Map HU onto uint8 grey through the window [lo, hi].

    ``lift`` > 0 brightens the mid-tones like a gamma < 1, with the quadratic curve
    ``g + lift * g * (1 - g)`` (plain arithmetic, so the same bytes on every CPU).
    """
    g = np.clip((hu - np.float32(lo)) * np.float32(1.0 / (hi - lo)), 0.0, 1.0)
    if lift:
        g = g + np.float32(lift) * g * (np.float32(1.0) - g)
    return np.rint(g * np.float32(255.0)).astype(np.uint8)


def v2_shape(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(V2_HEIGHT[0], V2_HEIGHT[1] + 1)), int(
        rng.integers(V2_WIDTH[0], V2_WIDTH[1] + 1)
    )


def render_pair(seed: int, version: str, index: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Image and mask of one pair, per variant: ``{variant: (image, mask)}``."""
    rng = pair_rng(seed, version, index)
    pre, raw = dataset.VARIANTS
    if version == dataset.VERSIONS[0]:
        hu, lungs = phantom(rng, *V1_SHAPE, fov=True)
        mask = lungs.view(np.uint8) * np.uint8(255)
        raw_img = np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)
        return {pre: (window(hu, *PRE_WINDOW), mask), raw: (raw_img, mask)}
    h, w = v2_shape(rng)
    hu, lungs = phantom(rng, h, w, fov=False)
    mask = lungs.view(np.uint8) * np.uint8(255)
    raw_grey = window(hu, *RAW_V2_WINDOW)
    pre_grey = window(hu, *PRE_WINDOW, lift=0.25)
    return {
        pre: (np.repeat(pre_grey[:, :, None], 3, axis=2), mask),
        raw: (np.repeat(raw_grey[:, :, None], 3, axis=2), mask),
    }


def tiff_bytes(arr: np.ndarray) -> bytes:
    """An uncompressed, dateless TIFF of ``arr`` (grey HxW or RGB HxWx3)."""
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        arr,
        photometric="rgb" if arr.ndim == 3 else "minisblack",
        metadata=None,
        software=TIFF_SOFTWARE,
    )
    return buf.getvalue()


def _write_file(path: Path, data: bytes) -> int:
    with open(path, "wb") as fh:
        fh.write(data)
    return len(data)


def _make_chunk(tree: str, seed: int, version: str, indices: Sequence[int]) -> tuple[int, int]:
    """Worker: render and write the pairs ``indices`` of ``version`` (both variants).

    Returns (files written, bytes written).
    """
    root = Path(tree)
    files = size = 0
    for index in indices:
        for variant, (image, mask) in render_pair(seed, version, index).items():
            group = dataset.Group(variant, version)
            name = f"{index}{_EXT}"
            size += _write_file(root / group.images / name, tiff_bytes(image))
            size += _write_file(root / group.masks / name, tiff_bytes(mask))
            files += 2
    return files, size


def _init_worker() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ---------------------------------------------------------------------------------------------
# Defects
# ---------------------------------------------------------------------------------------------
#: AppleDouble header (what macOS writes as ``._name``): magic, version, filler, no entries.
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x00" + b"\x00" * 4054
DS_STORE = b"\x00\x00\x00\x01Bud1" + b"\x00" * 6136
THUMBS_DB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4088
DESKTOP_INI = b"[.ShellClassInfo]\r\nIconResource=C:\\Windows\\System32\\imageres.dll,-3\r\n"


@dataclass
class _Planter:
    root: Path
    seed: int
    counts: dict[dataset.Group, int]
    defects: list[Defect] = field(default_factory=list)
    archive_only: dict[str, bytes] = field(default_factory=dict)
    _next: dict[dataset.Group, int] = field(default_factory=dict)

    def stem(self, group: dataset.Group) -> str:
        n = self._next.get(group, self.counts[group] + 1)
        self._next[group] = n + 1
        return str(n)

    def pair(self, group: dataset.Group, stem: str) -> tuple[np.ndarray, np.ndarray]:
        """A fresh, valid pair for a defect, from its own RNG (independent of clean pairs)."""
        return render_pair(self.seed + 1_000_003, group.version, int(stem))[group.variant]

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_file(path, data)

    def add(
        self, code: str, rel: str, message: str, group: dataset.Group | None, stem: str | None
    ) -> None:
        self.defects.append(
            Defect(code, rel, message, group.label if group else None, stem, "tree")
        )


def plant_defects(
    root: Path, seed: int, counts: dict[dataset.Group, int], wrap_prefix: str
) -> _Planter:
    """Plant one of each defect into the tree at ``root``; returns what was planted.

    Each defect uses a stem past the clean pairs of its group and gives exactly its own code.
    ``raw data/V2`` gets only junk, so it stays a group without findings.
    """
    pre, raw = dataset.VARIANTS
    v1, v2 = dataset.VERSIONS
    p = _Planter(root, seed, counts)

    g = dataset.Group(pre, v1)
    s = p.stem(g)
    image, _ = p.pair(g, s)
    p.write(f"{g.images}/{s}{_EXT}", tiff_bytes(image))
    p.add("missing-mask", f"{g.images}/{s}{_EXT}", "image without a mask", g, s)

    s = p.stem(g)
    _, mask = p.pair(g, s)
    p.write(f"{g.masks}/{s}{_EXT}", tiff_bytes(mask))
    p.add("missing-image", f"{g.masks}/{s}{_EXT}", "mask without an image", g, s)

    s = p.stem(g)
    image, mask = p.pair(g, s)
    upper, lower = f"{g.images}/{s}{_EXT}", f"{g.images}/{s}{_EXT.lower()}"
    p.write(upper, tiff_bytes(image))
    p.write(f"{g.masks}/{s}{_EXT}", tiff_bytes(mask))
    if (root / lower).exists():  # case-insensitive file system: keep the twin in the archive
        p.archive_only[lower] = tiff_bytes(image)
        p.defects.append(
            Defect(
                "duplicate-stem",
                lower,
                "two images with one stem (.TIF and .tif)",
                g.label,
                s,
                "archive",
            )
        )
    else:
        p.write(lower, tiff_bytes(image))
        p.add("duplicate-stem", lower, "two images with one stem (.TIF and .tif)", g, s)

    g = dataset.Group(pre, v2)
    s = p.stem(g)
    image, mask = p.pair(g, s)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, 1]))
    soft = _soften(mask, rng)
    p.write(f"{g.images}/{s}{_EXT}", tiff_bytes(image))
    p.write(f"{g.masks}/{s}{_EXT}", tiff_bytes(soft))
    p.add(
        "non-binary-mask",
        f"{g.masks}/{s}{_EXT}",
        "mask with grey values (blurred, JPEG-like edges), not 0/255",
        g,
        s,
    )

    s = p.stem(g)
    image, mask = p.pair(g, s)
    p.write(f"{g.images}/{s}{_EXT}", tiff_bytes(image))
    p.write(f"{g.masks}/{s}{_EXT}", tiff_bytes(np.repeat(mask[:, :, None], 3, axis=2)))
    p.add(
        "multi-channel-mask", f"{g.masks}/{s}{_EXT}", "RGB mask (three equal channels, 0/255)", g, s
    )

    g = dataset.Group(raw, v1)
    s = p.stem(g)
    image, mask = p.pair(g, s)
    data = tiff_bytes(image)
    p.write(f"{g.images}/{s}{_EXT}", data[: len(data) // 2])
    p.write(f"{g.masks}/{s}{_EXT}", tiff_bytes(mask))
    p.add("unreadable", f"{g.images}/{s}{_EXT}", "truncated TIFF (first half of the file)", g, s)

    s = p.stem(g)
    image, _ = p.pair(g, s)
    p.write(f"{g.images}/{s}{_EXT}", tiff_bytes(image))
    p.write(f"{g.masks}/{s}{_EXT}", b"")
    p.add("unreadable", f"{g.masks}/{s}{_EXT}", "zero-byte mask file", g, s)

    s = p.stem(g)
    image, mask = p.pair(g, s)
    p.write(f"{g.images}/{s}{_EXT}", tiff_bytes(image))
    p.write(f"{g.masks}/{s}{_EXT}", tiff_bytes(np.ascontiguousarray(mask[::2, ::2])))
    p.add(
        "shape-mismatch",
        f"{g.masks}/{s}{_EXT}",
        f"mask {mask.shape[0] // 2}x{mask.shape[1] // 2}, image {mask.shape[0]}x{mask.shape[1]}",
        g,
        s,
    )

    s = p.stem(g)
    image, mask = p.pair(g, s)
    p.write(f"{g.images}/{s}{_EXT}", tiff_bytes(image))
    p.write(f"{g.masks}/{s}{_EXT}", tiff_bytes(np.zeros_like(mask)))
    p.add("empty-mask", f"{g.masks}/{s}{_EXT}", "mask with no foreground (all 0)", g, s)

    g = dataset.Group(raw, v2)
    junk = [
        (".DS_Store", DS_STORE),
        (f"{g.images}/.DS_Store", DS_STORE),
        (f"{g.images}/._1{_EXT}", APPLEDOUBLE),
        (f"{g.masks}/Thumbs.db", THUMBS_DB),
        (f"{g.label}/desktop.ini", DESKTOP_INI),
    ]
    for rel, data in junk:
        p.write(rel, data)
        p.add("junk", rel, "OS junk: never a finding", None if rel == ".DS_Store" else g, None)
    # macOS "Compress" puts __MACOSX/ at the archive root, mirroring the compressed folder
    mac = f"__MACOSX/{wrap_prefix}{dataset.DATASET_DIRNAME}/{g.images}/._1{_EXT}"
    p.archive_only[mac] = APPLEDOUBLE
    p.defects.append(
        Defect(
            "junk",
            mac,
            "macOS resource fork folder in the archive: never a finding",
            None,
            None,
            "archive",
        )
    )
    return p


def _soften(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------
# Archives
# ---------------------------------------------------------------------------------------------
def natural_key(path: str) -> list[Any]:
    """Sort key: path parts, numbers compared as numbers (``2.TIF`` before ``10.TIF``)."""
    return [
        [(0, int(t), t) if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", part) if t]
        for part in path.split("/")
    ]


@dataclass(frozen=True)
class _Entry:
    name: str  # member name; directories end with "/"
    source: Path | None = None  # file on disk
    data: bytes | None = None  # archive-only content

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


def archive_entries(tree: Path, prefix: str, extra: dict[str, bytes]) -> list[_Entry]:
    """Every member of the archive, directories included, in natural sorted order."""
    entries: dict[str, _Entry] = {}

    def add_dirs(name: str) -> None:
        parts = name.rstrip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i]) + "/"
            entries.setdefault(d, _Entry(d))

    top = f"{prefix}{tree.name}"
    entries[top + "/"] = _Entry(top + "/")
    for dirpath, dirnames, filenames in os.walk(tree):
        rel = Path(dirpath).relative_to(tree).as_posix()
        base = top if rel == "." else f"{top}/{rel}"
        for d in dirnames:
            entries[f"{base}/{d}/"] = _Entry(f"{base}/{d}/")
        for f in filenames:
            entries[f"{base}/{f}"] = _Entry(f"{base}/{f}", source=Path(dirpath) / f)
    for rel, data in extra.items():
        name = rel if rel.startswith("__MACOSX/") else f"{top}/{rel}"
        entries[name] = _Entry(name, data=data)
    for name in list(entries):
        add_dirs(name)
    return sorted(entries.values(), key=lambda e: natural_key(e.name))


def _size(entry: _Entry) -> int:
    if entry.data is not None:
        return len(entry.data)
    return entry.source.stat().st_size if entry.source is not None else 0


def _read(entry: _Entry) -> bytes:
    if entry.data is not None:
        return entry.data
    if entry.source is None:
        return b""
    return entry.source.read_bytes()


def write_zip(dest: Path, entries: Sequence[_Entry], progress: Progress) -> None:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for e in entries:
            zi = zipfile.ZipInfo(e.name, date_time=ARCHIVE_DATE_TIME)
            zi.create_system = 3
            if e.is_dir:
                zi.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(zi, b"", compress_type=zipfile.ZIP_STORED)
                continue
            data = _read(e)
            zi.external_attr = 0o100644 << 16
            zf.writestr(zi, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL)
            progress.advance(len(data))


def write_tar_gz(dest: Path, entries: Sequence[_Entry], progress: Progress) -> None:
    with (
        open(dest, "wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=COMPRESSLEVEL
        ) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf,
    ):
        for e in entries:
            ti = tarfile.TarInfo(e.name.rstrip("/"))
            ti.mtime = ARCHIVE_EPOCH
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if e.is_dir:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tf.addfile(ti)
                continue
            data = _read(e)
            ti.mode = 0o644
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
            progress.advance(len(data))


def sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------
def _workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _chunks(counts: dict[dataset.Group, int], workers: int) -> list[tuple[str, list[int]]]:
    """Work units: (version, indices); both variants of a version are rendered together."""
    per_version = {v: max(n for g, n in counts.items() if g.version == v) for v in dataset.VERSIONS}
    total = sum(per_version.values())
    size = max(1, min(32, math.ceil(total / (workers * 4))))
    out: list[tuple[str, list[int]]] = []
    for version, n in per_version.items():
        idx = list(range(1, n + 1))
        out += [(version, idx[i : i + size]) for i in range(0, n, size)]
    return out


def _generate(tree: Path, seed: int, counts: dict[dataset.Group, int], progress: Progress) -> None:
    for leaf in dataset.LEAF_DIRS:
        (tree / leaf).mkdir(parents=True, exist_ok=True)
    total_pairs = sum(counts.values())
    progress.start("Generating synthetic slices", total=total_pairs * 2, unit="files")
    workers = _workers()
    chunks = _chunks(counts, workers)
    if workers == 1 or total_pairs <= 32:
        for version, idx in chunks:
            files, _ = _make_chunk(str(tree), seed, version, idx)
            progress.advance(files)
    else:
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
        ctx = multiprocessing.get_context(method)
        if method == "forkserver":  # import numpy/tifffile once in the server, not per worker
            ctx.set_forkserver_preload([__name__])
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            futures = [pool.submit(_make_chunk, str(tree), seed, v, idx) for v, idx in chunks]
            try:
                for fut in futures:
                    files, _ = fut.result()
                    progress.advance(files)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    progress.done()


def _tree_stats(tree: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return files, size


def synthesize(
    out_dir: Path,
    *,
    pairs: int | None = None,
    scale: float | None = None,
    seed: int = 0,
    fmt: str = "zip",
    wrap: str | None = None,
    defects: bool = False,
    progress: Progress | None = None,
) -> SynthResult:
    """Write a synthetic LungSegDB tree (and archive) into ``out_dir``; see the module doc.

    Raises :class:`UsageError` for bad arguments or an OUT that is a file or holds data synth
    did not write, :class:`LocalError` when the machine refuses (permission, disk full).
    Everything is built in a temporary folder inside OUT and moved into place at the end, so
    an interrupted run leaves the previous output (or nothing), never half a tree or archive.
    """
    prog = ensure(progress)
    counts = pair_counts(pairs, scale)
    seed = _check_seed(seed)
    if fmt not in FORMATS:
        raise UsageError(
            f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}",
            hint="Use --format zip, --format tar.gz or --format none.",
        )
    wrap = _check_wrap(wrap)
    out = _prepare_out(out_dir)
    check_free_space(out, estimate_bytes(counts, fmt), "the synthetic dataset")

    try:
        work = Path(tempfile.mkdtemp(prefix=".lungsegdb-synth-", dir=out))
    except OSError as exc:
        raise from_os_error(exc, f"writing into {out}") from exc
    try:
        return _synthesize_in(work, out, counts, seed, fmt, wrap, defects, prog)
    except LungSegDBError:
        raise
    except OSError as exc:
        raise from_os_error(exc, f"writing the synthetic dataset into {out}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _synthesize_in(
    work: Path,
    out: Path,
    counts: dict[dataset.Group, int],
    seed: int,
    fmt: str,
    wrap: str | None,
    defects: bool,
    progress: Progress,
) -> SynthResult:
    tree = work / dataset.DATASET_DIRNAME
    _generate(tree, seed, counts, progress)
    prefix = f"{wrap}/" if wrap else ""
    planted: list[Defect] = []
    archive_only: dict[str, bytes] = {}
    if defects:
        p = plant_defects(tree, seed, counts, prefix)
        planted, archive_only = p.defects, p.archive_only
        if fmt == "none":
            planted = [d for d in planted if d.where == "tree"]
    files, size = _tree_stats(tree)

    archive: ArchiveInfo | None = None
    staged: Path | None = None
    if fmt != "none":
        staged = work / f"{ARCHIVE_BASENAME}.{fmt}"
        entries = archive_entries(tree, prefix, archive_only)
        total = sum(_size(e) for e in entries)
        progress.start(f"Writing {staged.name}", total=total, unit="B")
        (write_zip if fmt == "zip" else write_tar_gz)(staged, entries, progress)
        progress.done()
        final = _archive_path(out, fmt)
        archive = ArchiveInfo(final, sha256_file(staged), staged.stat().st_size, fmt)

    # Commit: swap the tree in, move the archive, drop stale output of an earlier run.
    final_tree = out / dataset.DATASET_DIRNAME
    if final_tree.exists() or final_tree.is_symlink():
        if final_tree.is_dir() and not final_tree.is_symlink():
            final_tree.rename(work / "previous")
        else:
            final_tree.unlink()
    tree.rename(final_tree)
    for f in FORMATS[:2]:
        if f != fmt:
            _archive_path(out, f).unlink(missing_ok=True)
    if staged is not None and archive is not None:
        os.replace(staged, archive.path)
    defects_file: Path | None = None
    if defects:
        defects_file = out / DEFECTS_FILE
        doc = {
            "generator": GENERATOR,
            "dataset_dir": str(final_tree),
            "seed": seed,
            "defects": [d.to_dict() for d in planted],
        }
        _write_json(defects_file, doc)
    else:
        (out / DEFECTS_FILE).unlink(missing_ok=True)
    result = SynthResult(
        out=out,
        tree=final_tree,
        archive=archive,
        pairs={g.label: n for g, n in counts.items()},
        files=files,
        bytes=size,
        seed=seed,
        wrap=wrap,
        defects=planted,
        defects_file=defects_file,
    )
    _write_json(out / RESULT_FILE, result.to_dict())
    return result


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomically, with the usual permissions (the temp file behind it is 0600)."""
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


__all__ = [
    "DEFAULT_PAIRS",
    "FORMATS",
    "ArchiveInfo",
    "Defect",
    "SynthResult",
    "pair_counts",
    "phantom",
    "render_pair",
    "synthesize",
]
