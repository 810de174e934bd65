"""Small trees laid out like LungSegDB whose files look the way real CT slices arrive.

An image is signed ``int16`` Hounsfield units: air and lungs around -850, soft tissue around
+40, bone up to about +1,800, and the corners outside the round scan field padded far below
air (-2,600 or -1,800, as scanners write it), so values span roughly -3,000..+3,000. A mask is
``uint8`` holding exactly 0 and 255. ``preprocessed data`` gets the same slice windowed to
``uint8`` (lung window), as the real dataset derives it. Everything is made from the stem, so
a tree is the same on every run; nothing is written outside the ``root`` given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tifffile

VARIANTS = ("preprocessed data", "raw data")
#: The padding values real scanners write outside the round scan field.
PADDING = (-2600, -1800)


def slice_hu(stem: str, shape: tuple[int, int] = (24, 20)) -> tuple[np.ndarray, np.ndarray]:
    """``(image, mask)`` for ``stem``: int16 HU with padded corners, and a 0/255 uint8 mask."""
    seed = int.from_bytes(hashlib.blake2b(stem.encode(), digest_size=4).digest(), "big")
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    r = np.hypot((yy - cy) / (h / 2), (xx - cx) / (w / 2))
    image = np.full(shape, 40, dtype=np.int16)  # soft tissue
    lungs = (np.abs(xx - cx) > w * 0.1) & (np.abs(xx - cx) < w * 0.35) & (r < 0.7)
    image[lungs] = -850
    image[(r > 0.8) & (r <= 0.95)] = 1800  # ribs
    image += rng.integers(-30, 31, size=shape, dtype=np.int16)
    image[r > 1.0] = PADDING[seed % 2]  # outside the scan field
    mask = np.where(lungs, 255, 0).astype(np.uint8)
    return image, mask


def lung_window(image: np.ndarray) -> np.ndarray:
    """The ``preprocessed data`` rendering: lung window (level -600, width 1500) to uint8."""
    lo, hi = -600 - 750, -600 + 750
    return np.clip((image.astype(np.float32) - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)


def write_ct_tree(
    root: Path,
    stems: Iterable[str],
    *,
    versions: Iterable[str] = ("V2",),
    variants: Iterable[str] = VARIANTS,
) -> Path:
    """``root/LungSegDB`` holding ``stems`` in every ``variant/version`` given; the tree."""
    tree = Path(root) / "LungSegDB"
    names = list(stems)
    for variant in variants:
        for version in versions:
            images = tree / variant / version / "CT_Images"
            masks = tree / variant / version / "CT_Masks"
            images.mkdir(parents=True, exist_ok=True)
            masks.mkdir(parents=True, exist_ok=True)
            for stem in names:
                image, mask = slice_hu(f"{version}/{stem}")
                if variant == "preprocessed data":
                    image = lung_window(image)
                tifffile.imwrite(images / f"{stem}.TIF", image)
                tifffile.imwrite(masks / f"{stem}.TIF", mask)
    return tree
