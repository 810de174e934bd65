"""synth's pixels: a chest-CT phantom slice and its lung mask, per pair, and TIFF encoding.

Every pair draws from its own RNG seeded from ``(seed, version, index)``; the draws happen in a
fixed order, and only IEEE-exact arithmetic (``+ - * / sqrt``) shapes the lung boundary, so
the same seed gives the same pixels on every CPU. TIFFs carry no date.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lungsegdb_cli.dataset import card as dataset

TIFF_SOFTWARE = "lungsegdb synth"
#: File extension of every slice synth writes (the real dataset's).
EXT = ".TIF"

V1_SHAPE = (512, 512)
V2_HEIGHT = (300, 520)
V2_WIDTH = (400, 620)
#: HU window mapped onto 0..255 for ``preprocessed data`` V1 and both V2 variants.
PRE_WINDOW = (-1000.0, 400.0)
RAW_V2_WINDOW = (-1100.0, 500.0)
HU_MIN, HU_MAX = -1024, 3071
#: ``like_kaggle``: the values the corners outside the round scan field are padded with (one
#: per pair, drawn), the HU range of the metal marker on the skin, the window of the derived
#: ``preprocessed data`` copy.
KAGGLE_PADDING: tuple[int, ...] = (-2600, -1800)
KAGGLE_METAL = (2500.0, 3000.0)
KAGGLE_PRE_WINDOW = PRE_WINDOW

_VERSION_IDS = {v: i for i, v in enumerate(dataset.VERSIONS)}


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


@dataclass(frozen=True)
class _Body:
    """The body ellipse of one slice: centre, half-axes, and the region inside the fat layer."""

    h: int
    w: int
    cx: float
    cy: float
    bax: float
    bay: float
    inner: np.ndarray


def _body(rng: np.random.Generator, h: int, w: int) -> tuple[_Body, np.ndarray, np.ndarray]:
    """The body (fat and soft tissue over air): ``(body, hu, texture)``."""
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
    return _Body(h, w, cx, cy, bax, bay, inner), hu, texture


def _table_and_heart(rng: np.random.Generator, b: _Body, hu: np.ndarray) -> None:
    """The table under the body; the heart, slightly denser soft tissue left of the midline."""
    u, h, w = rng.uniform, b.h, b.w
    top = b.cy + b.bay * u(1.04, 1.10)
    t0, t1 = min(h, math.ceil(top)), min(h, math.ceil(top + max(3.0, h * 0.012)))
    xs = slice(max(0, math.floor(b.cx - b.bax * 0.95)), min(w, math.ceil(b.cx + b.bax * 0.95)))
    hu[t0:t1, xs] = 150.0

    hx, hy = b.cx + b.bax * u(0.02, 0.10), b.cy + b.bay * u(0.05, 0.15)
    hax, hay = b.bax * u(0.22, 0.28), b.bay * u(0.28, 0.34)
    ys, xs, ly, lx = _box(hx, hy, hax, hay, h, w)
    heart = ((lx - hx) / hax) ** 2 + ((ly - hy) / hay) ** 2 < 1.0
    hu[ys, xs][heart] += 20.0


def _bones(rng: np.random.Generator, b: _Body, hu: np.ndarray) -> None:
    """The spine (cortical ring, cancellous core) and ten ribs along the inside of the wall."""
    u, h, w, cx, cy, bax, bay = rng.uniform, b.h, b.w, b.cx, b.cy, b.bax, b.bay
    sr, sx, sy = bay * u(0.09, 0.11), cx, cy + bay * u(0.62, 0.68)
    ys, xs, ly, lx = _box(sx, sy, sr, sr, h, w)
    sd2 = (lx - sx) ** 2 + (ly - sy) ** 2
    win = hu[ys, xs]
    win[sd2 < sr * sr] = 1150.0 + 150.0 * u(-1, 1)
    win[sd2 < (0.7 * sr) ** 2] = 280.0 + 60.0 * u(-1, 1)

    for ang in np.linspace(-2.6, 2.6, 10, dtype=np.float32) + u(-0.1, 0.1):
        rx = cx + bax * 0.9 * math.sin(float(ang))
        ry = cy - bay * 0.9 * math.cos(float(ang))
        rr = bay * u(0.04, 0.06)
        ys, xs, ly, lx = _box(rx, ry, rr * 1.6, rr, h, w)
        rib = ((lx - rx) / (rr * 1.6)) ** 2 + ((ly - ry) / rr) ** 2 < 1.0
        hu[ys, xs][rib] = 700.0 + 200.0 * u(-1, 1)


def _lung(rng: np.random.Generator, b: _Body, side: float, lungs: np.ndarray) -> None:
    """One lung (``side`` -1 or 1) into ``lungs``: a perturbed ellipse, flat towards the heart.

    The boundary r(theta) = 1 + sum a_k cos(k theta + phi_k) - flattening comes from cos and
    sin of theta by multiple-angle identities: only + - * / sqrt, which IEEE rounds the same on
    every CPU (numpy's SIMD sin/cos/arctan2 do not), so the bytes do not depend on the machine.
    """
    u = rng.uniform
    size = 1.0 if side < 0 else u(0.85, 0.95)
    lcx = b.cx + side * b.bax * u(0.40, 0.46)
    lcy = b.cy - b.bay * u(0.0, 0.08)
    lax, lay = b.bax * u(0.27, 0.33) * size, b.bay * u(0.56, 0.68)
    ys, xs, ly, lx = _box(lcx, lcy, lax * 1.1, lay * 1.1, b.h, b.w)
    dx, dy = (lx - lcx) / lax, (ly - lcy) / lay
    rho = np.sqrt(dx * dx + dy * dy)
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


def _lungs(
    rng: np.random.Generator, b: _Body, hu: np.ndarray, texture: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both lungs: ``(hu, lungs)``; the parenchyma is dark, denser where a fine field peaks."""
    lungs = np.zeros((b.h, b.w), dtype=bool)
    for side in (-1.0, 1.0):
        _lung(rng, b, side, lungs)
    lungs &= b.inner
    fine = _smooth_field(rng, b.h, b.w, 6)
    cut = np.float32(rng.uniform(1.3, 1.7))
    vessels = np.clip(fine - cut, np.float32(0.0), np.float32(0.6))  # up to ~+250 HU
    lung_hu = np.float32(40.0) * texture
    lung_hu += np.float32(-860.0)
    lung_hu += np.float32(1400.0) * vessels
    lung_hu += np.float32(300.0) * (fine > cut)
    return np.where(lungs, lung_hu, hu), lungs


def _add_noise(rng: np.random.Generator, hu: np.ndarray) -> None:
    """Quantum noise: triangular (sum of two uniforms, scaled to the drawn std), cheaper than
    normal draws and indistinguishable after quantisation."""
    sigma = np.float32(rng.uniform(14.0, 22.0) * math.sqrt(6.0))
    noise = rng.random(hu.shape, dtype=np.float32)
    noise += rng.random(hu.shape, dtype=np.float32)
    noise -= np.float32(1.0)
    noise *= sigma
    hu += noise


def phantom(
    rng: np.random.Generator, h: int, w: int, *, fov: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A chest CT slice in HU (float32, HxW) and its lung mask (bool, HxW)."""
    b, hu, texture = _body(rng, h, w)
    _table_and_heart(rng, b, hu)
    _bones(rng, b, hu)
    hu, lungs = _lungs(rng, b, hu, texture)
    _add_noise(rng, hu)
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


def _metal(rng: np.random.Generator, hu: np.ndarray, lungs: np.ndarray) -> None:
    """A small, very dense marker on the skin (an ECG electrode): a 5x5-pixel square at the
    top of the body at ~2,500-3,000 HU, the bright tail real slices have."""
    h, w = hu.shape
    cx = w // 2 + int(rng.integers(-w // 8, w // 8 + 1))
    body = np.flatnonzero(hu[:, cx] > -500)
    top = int(body[0]) if body.size else h // 4
    y0 = max(0, top - 2)
    hu[y0 : y0 + 5, cx - 2 : cx + 3] = np.float32(rng.uniform(*KAGGLE_METAL))
    lungs[y0 : y0 + 5, cx - 2 : cx + 3] = False


def render_like_kaggle(
    seed: int, version: str, index: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One pair the way real CT slices arrive (``synth --like-kaggle``), per variant.

    ``raw data``: 512x512 signed ``int16`` HU, the corners outside the round scan field padded
    far below air (-2600 or -1800, drawn per pair), a metal marker up to ~3,000 HU;
    ``preprocessed data``: the same slice windowed to 2D ``uint8`` grey. Masks ``uint8``
    0/255. Both versions alike.

    Examples
    --------
    >>> pair = render_like_kaggle(0, "V2", 1)
    >>> ct, mask = pair["raw data"]
    >>> ct.dtype.name, ct.shape, int(ct[0, 0]) in KAGGLE_PADDING, int(ct.max()) > 2000
    ('int16', (512, 512), True, True)
    >>> sorted(set(mask.ravel().tolist())), pair["preprocessed data"][0].dtype.name
    ([0, 255], 'uint8')
    """
    rng = pair_rng(seed, version, index)
    pre, raw = dataset.VARIANTS
    h, w = V1_SHAPE
    hu, lungs = phantom(rng, h, w, fov=False)
    _metal(rng, hu, lungs)
    pad = np.float32(KAGGLE_PADDING[int(rng.integers(len(KAGGLE_PADDING)))])
    hu = np.where(_outside_fov(h, w), pad, hu)
    lungs &= ~_outside_fov(h, w)
    mask = lungs.view(np.uint8) * np.uint8(255)
    raw_img = np.rint(hu).astype(np.int16)
    return {pre: (window(hu, *KAGGLE_PRE_WINDOW), mask), raw: (raw_img, mask)}


def preload() -> None:
    """Import what rendering needs (tifffile; numpy is already here) before workers fork, so
    each inherits it instead of importing it again."""
    import tifffile  # noqa: F401


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


def write_file(path: Path, data: bytes) -> int:
    """``data`` into ``path`` (a new file in synth's private work folder); returns its size."""
    with open(path, "wb") as fh:
        fh.write(data)
    return len(data)


def render(
    seed: int, version: str, index: int, like_kaggle: bool = False
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`render_like_kaggle` with ``like_kaggle``, else :func:`render_pair`."""
    if like_kaggle:
        return render_like_kaggle(seed, version, index)
    return render_pair(seed, version, index)


def make_chunk(
    tree: str, seed: int, version: str, indices: Sequence[int], like_kaggle: bool = False
) -> tuple[int, int]:
    """Worker: render and write the pairs ``indices`` of ``version`` (both variants).

    Returns (files written, bytes written).
    """
    root = Path(tree)
    files = size = 0
    for index in indices:
        for variant, (image, mask) in render(seed, version, index, like_kaggle).items():
            group = dataset.Group(variant, version)
            name = f"{index}{EXT}"
            size += write_file(root / group.images / name, tiff_bytes(image))
            size += write_file(root / group.masks / name, tiff_bytes(mask))
            files += 2
    return files, size
