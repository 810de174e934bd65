"""``lungsegdb stats --plot FILE.png``: a picture of the dataset, one row per group.

Each row: a few image/mask overlays (the mask in translucent red over the slice), the intensity
histogram of the group (accumulated in the stats pass, so no file is read again for it) and the
histogram of the per-mask foreground fractions. matplotlib is an optional extra
(``pip install '.[plot]'`` in a checkout, or the wheel with ``[plot]``); without it ``--plot``
is a usage error (exit 2).
The overlay samples (three pairs per group) are the only files read a second time.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.utils.fsutil import atomic_write_bytes
from lungsegdb_cli.utils.install import extra_hint

EXTRA_HINT = extra_hint("plot", "pip install matplotlib")


def require() -> None:
    """Raise :class:`UsageError` (exit 2) early, before any work, if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "--plot needs matplotlib, which is not installed", hint=EXTRA_HINT
        ) from exc


def _display(arr: Any) -> tuple[Any, dict[str, Any]]:
    """A slice ready for imshow: grey images windowed on their 1st-99th percentile."""
    import numpy as np

    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] in (3, 4) and a.dtype == np.uint8:
        return a[:, :, :3], {}
    if a.ndim == 3:
        a = a[:, :, 0]
    a = a.astype(np.float32)
    lo, hi = np.percentile(a, (1, 99)) if a.size else (0.0, 1.0)
    return a, {"cmap": "gray", "vmin": float(lo), "vmax": float(hi if hi > lo else lo + 1)}


def _mask_overlay(mask: Any) -> Any:
    import numpy as np

    m = np.asarray(mask)
    if m.ndim == 3:
        m = (m > 0).any(axis=-1)
    return np.ma.masked_where(~(m > 0), np.ones(m.shape, dtype=np.float32))


def render(result: Any, out: Path) -> Path:
    """Draw ``result`` (a :class:`~lungsegdb_cli.checks.stats.StatsResult`) into the PNG ``out``;
    sample slices are read from the tree the result describes."""
    require()
    tree = Path(result.dataset_dir)
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np
    import tifffile

    from lungsegdb_cli.checks.stats import SAMPLES

    groups = result.groups or []
    rows = max(1, len(groups))
    cols = SAMPLES + 2
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for r, g in enumerate(groups):
        for c in range(SAMPLES):
            ax = axes[r][c]
            ax.set_axis_off()
            if c >= len(g.samples):
                continue
            pair = g.samples[c]
            try:
                img = tifffile.imread(tree / pair.image.rel)
                msk = tifffile.imread(tree / pair.mask.rel)
            except Exception:  # a file changed since the pass; leave the panel empty
                continue
            shown, kw = _display(img)
            ax.imshow(shown, **kw)
            if msk.shape[:2] == shown.shape[:2]:
                ax.imshow(_mask_overlay(msk), cmap="autumn", alpha=0.35, vmin=0, vmax=1)
            ax.set_title(f"{g.label}\n{pair.stem}", fontsize=8)
        ax = axes[r][SAMPLES]
        hist = g.histogram()
        if hist is not None:
            lo, hi, counts = hist
            edges = np.linspace(lo, hi, len(counts) + 1)
            nz = np.flatnonzero(counts)
            a, b = (nz[0], nz[-1] + 1) if nz.size else (0, len(counts))
            ax.stairs(counts[a:b], edges[a : b + 1], fill=True)
            ax.set_yscale("log")
        ax.set_title(f"{g.label}: intensity", fontsize=8)
        ax.tick_params(labelsize=7)
        ax = axes[r][SAMPLES + 1]
        if g.foreground:
            ax.hist(np.asarray(g.foreground) * 100, bins=40)
        ax.set_title(f"{g.label}: foreground % per mask", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    out = Path(out)
    try:
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=80)
    finally:
        plt.close(fig)
    atomic_write_bytes(out, png.getvalue())  # a reader sees the old plot or the new one
    return out
