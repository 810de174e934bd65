"""Measuring pictures of CT (``preview``, ``stats --plot``): how dark the lungs are drawn
compared with the soft tissue around them, read back from the PNG written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

#: Soft tissue, fat, muscle, bone around the lungs: what a ring outside the mask must hold
#: (air outside the body would be as dark as lung in any window).
SOFT_TISSUE_HU = -300


def sample(a: Any, th: int, tw: int) -> Any:
    """Nearest-neighbour resampling of ``a`` to ``th`` x ``tw``: output pixel ``i`` takes
    source pixel ``floor((i + 0.5) * H / th)`` (the documented preview rule)."""
    a = np.asarray(a)
    h, w = a.shape[:2]
    rows = np.minimum(((np.arange(th) + 0.5) * h / th).astype(int), h - 1)
    cols = np.minimum(((np.arange(tw) + 0.5) * w / tw).astype(int), w - 1)
    return a[rows[:, None], cols[None, :]]


def grow(mask: Any, steps: int) -> Any:
    """``mask`` dilated by ``steps`` pixels (4-neighbourhood)."""
    out = np.asarray(mask, dtype=bool).copy()
    for _ in range(steps):
        p = np.pad(out, 1)
        out = p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    return out


def lung_and_ring(
    grey: Any, image: Path, mask: Path, *, lung_scale: float = 1.0, margin: int = 2, ring: int = 4
) -> tuple[float, float]:
    """Mean grey inside the mask (``margin`` px in from its border: the outline and any
    filter's reach stay out) and in a ring ``margin`` to ``margin + ring`` px outside it, over
    soft tissue only, for the ``grey`` picture of the slice ``image`` (HU) with ``mask``.
    ``lung_scale`` divides the inside (undoes a translucent overlay's dimming)."""
    g = np.asarray(grey, dtype=np.float64)
    th, tw = g.shape
    m = sample(tifffile.imread(mask) > 0, th, tw)
    hu = sample(tifffile.imread(image), th, tw)
    inside = ~grow(~m, margin)
    around = grow(m, margin + ring) & ~grow(m, margin) & (hu > SOFT_TISSUE_HU)
    assert inside.sum() > 200 and around.sum() > 200
    return float(g[inside].mean()) / lung_scale, float(g[around].mean())
