"""An archive shaped like what real downloads hand us, for the Croissant tests.

Raw slices are signed int16 Hounsfield units (about -1000 .. +3000 inside a round scan field,
the corners outside it padded far below air, at -3024), masks 0/255 ``uint8``, preprocessed
slices ``uint8``. The archive spells the documented folders its own way, under a wrapper
folder, and carries what real archives carry besides the tree: a lone image without its mask,
an AppleDouble ``._`` file beside the slices and a ``__MACOSX/`` folder. Deterministic: a
seeded generator, fixed zip dates.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import tifffile

from lungsegdb_cli.dataset import card as dataset

#: How the archive spells each documented folder name.
SPELLING = {
    "preprocessed data": "Preprocessed_Data",
    "raw data": "RAW-data",
    "CT_Images": "ct images",
    "CT_Masks": "CT_Masks",
}
WRAPPER = "download (1)/LungSegDB"
#: The value of the corners outside the scan field.
PAD = -3024
SIDE = 48
_DATE = (2024, 1, 1, 0, 0, 0)


def member(leaf: str, name: str) -> str:
    """The archive path of the tree file ``leaf/name``."""
    return "/".join([WRAPPER, *(SPELLING.get(p, p) for p in leaf.split("/")), name])


def _tiff(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, photometric="minisblack", metadata=None, software="test")
    return buf.getvalue()


def slices(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw int16 HU, preprocessed uint8, mask 0/255 uint8) of one phantom slice."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    r = np.hypot(yy - SIDE / 2 + 0.5, xx - SIDE / 2 + 0.5)
    hu = rng.normal(40, 20, (SIDE, SIDE))  # soft tissue
    lungs = np.hypot(yy - SIDE / 2, np.abs(xx - SIDE / 2) - SIDE / 5) < SIDE / 7
    hu[lungs] = rng.normal(-850, 40, int(lungs.sum()))
    hu[r < 3] = 2800  # a dense implant, near the top of the range
    hu[r > SIDE / 2 - 6] = -1000  # air inside the scan field
    raw = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    raw[r > SIDE / 2] = PAD  # outside the round field: far below air
    pre = np.clip((raw.astype(np.float32) + 1000) / 1400 * 255, 0, 255).astype(np.uint8)
    mask = np.where(lungs, 255, 0).astype(np.uint8)
    return raw, pre, mask


def build(path: Path, pairs: int = 2, seed: int = 0) -> dict[str, bytes]:
    """Write the archive to ``path``; returns the tree lungsegdb extracts from it
    (``{relative path: bytes}``)."""
    rng = np.random.default_rng(seed)
    tree: dict[str, bytes] = {}
    for version in dataset.VERSIONS:
        for i in range(1, pairs + 1):
            raw, pre, mask = slices(rng)
            for variant, image in (("preprocessed data", pre), ("raw data", raw)):
                tree[f"{variant}/{version}/CT_Images/{i}.TIF"] = _tiff(image)
                tree[f"{variant}/{version}/CT_Masks/{i}.TIF"] = _tiff(mask)
    lone, _, _ = slices(rng)
    tree[f"raw data/V1/CT_Images/{pairs + 1}.TIF"] = _tiff(lone)  # no mask: not a pair
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(tree):
            leaf, name = rel.rsplit("/", 1)
            zf.writestr(zipfile.ZipInfo(member(leaf, name), _DATE), tree[rel])
        junk = member("raw data/V1/CT_Images", "._1.TIF")
        zf.writestr(zipfile.ZipInfo(junk, _DATE), b"\x00\x05\x16\x07 AppleDouble")
        zf.writestr(zipfile.ZipInfo("__MACOSX/" + junk, _DATE), b"\x00\x05\x16\x07")
        zf.writestr(zipfile.ZipInfo(WRAPPER + "/.DS_Store", _DATE), b"junk")
    return tree
