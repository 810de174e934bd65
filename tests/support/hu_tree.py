"""A small LungSegDB tree as real CT arrives: signed int16 Hounsfield units, masks 0/255.

``synth`` writes HU-like ``raw data`` in -1024..~1500; real slices span about -3000..+3000
and pad the corners outside the round scan field far below air (-3024 or -32768). This tree
has that, and the storage variants a real tree holds, so exports are checked on them:

* ``raw data/V1``: int16 HU, 40x48, little-endian, masks ``uint8`` 0/255; pair ``2`` is
  stored big-endian and pair ``3`` Deflate-compressed (not the plain-TIFF fast path);
* ``raw data/V2``: int16 HU, 36x52 (another shape), corners at -32768, masks already ``uint8``
  0/1 (stored as they are by the packed exports);
* ``preprocessed data/V1`` and ``V2``: the same slices windowed to ``uint8`` grey (V2 as RGB
  with three equal channels), masks 0/255.

Deterministic (one seeded generator); no binary file is kept in the repository.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

#: Pairs per group.
PAIRS = 4
SHAPES = {"V1": (40, 48), "V2": (36, 52)}
PADDING = {"V1": -3024, "V2": -32768}


def hu_slice(rng: np.random.Generator, shape: tuple[int, int], padding: int) -> np.ndarray:
    """An int16 slice: air, a body ellipse, two lungs, bone up to +3000, a metal streak at
    -3000, noise; the corners outside the round field at ``padding``."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    hu = np.full(shape, -1000.0, dtype=np.float32)
    body = ((y - cy) / (0.42 * h)) ** 2 + ((x - cx) / (0.45 * w)) ** 2 <= 1
    hu[body] = 40.0
    for side in (-1, 1):
        lung = ((y - cy) / (0.3 * h)) ** 2 + ((x - cx - side * 0.2 * w) / (0.15 * w)) ** 2 <= 1
        hu[lung] = -850.0
    hu[int(cy) - 1 : int(cy) + 2, int(cx) - 1 : int(cx) + 2] = 3000.0  # bone / contrast
    hu[2, 2 : w - 2] = -3000.0  # a streak artefact
    hu += rng.normal(0.0, 25.0, shape).astype(np.float32)
    field = (y - cy) ** 2 + (x - cx) ** 2 <= (min(h, w) / 2) ** 2
    hu[~field] = padding
    return np.clip(np.rint(hu), -32768, 32767).astype(np.int16)


def lung_mask(image: np.ndarray) -> np.ndarray:
    """The lungs (HU between -950 and -700 inside the field) as ``bool``."""
    return (image > -950) & (image < -700)


def window(image: np.ndarray) -> np.ndarray:
    """HU to ``uint8`` grey (lung window, padding to 0)."""
    lo, hi = -1350.0, 150.0
    g = (np.clip(image.astype(np.float32), lo, hi) - lo) / (hi - lo) * 255.0
    return np.rint(g).astype(np.uint8)


def write_hu_tree(root: Path, pairs: int = PAIRS, seed: int = 0) -> Path:
    """Write the tree under ``root`` (``root/LungSegDB``) and return the LungSegDB folder."""
    rng = np.random.default_rng(seed)
    tree = Path(root) / "LungSegDB"
    for version, shape in SHAPES.items():
        for variant in ("raw data", "preprocessed data"):
            for kind in ("CT_Images", "CT_Masks"):
                (tree / variant / version / kind).mkdir(parents=True, exist_ok=True)
        for i in range(1, pairs + 1):
            hu = hu_slice(rng, shape, PADDING[version])
            mask = lung_mask(hu)
            name = f"{i}.TIF"
            raw = tree / "raw data" / version
            kwargs: dict[str, object] = {}
            image: np.ndarray = hu
            if version == "V1" and i == 2:
                image = hu.astype(">i2")  # big-endian storage
            if version == "V1" and i == 3:
                kwargs = {"compression": "zlib"}
            tifffile.imwrite(raw / "CT_Images" / name, image, **kwargs)
            stored = mask.astype(np.uint8) * (1 if version == "V2" else 255)
            tifffile.imwrite(raw / "CT_Masks" / name, stored)
            pre = tree / "preprocessed data" / version
            grey = window(hu)
            if version == "V2":
                grey = np.repeat(grey[..., None], 3, axis=-1)
            tifffile.imwrite(pre / "CT_Images" / name, grey)
            tifffile.imwrite(pre / "CT_Masks" / name, mask.astype(np.uint8) * 255)
    return tree
