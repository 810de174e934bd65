"""``lungsegdb stats --plot FILE.png``: a picture of the dataset, one row per group with pairs.

Each row: a few image/mask overlays (the mask in translucent red, :data:`OVERLAY` at
:data:`OVERLAY_ALPHA`, over the slice), the intensity histogram of the group (accumulated in
the stats pass, so no file is read again for it) and the histogram of the per-mask foreground
fractions. Groups without pairs (absent or empty folders) get no row. Slices are drawn through
the display window of :mod:`lungsegdb_cli.training.window` (``--window``; by default CT in
Hounsfield units gets the lung window), named in each overlay's title. matplotlib is an
optional extra (``pip install '.[plot]'`` in a checkout, or the wheel with ``[plot]``); without
it ``--plot`` is a usage error (exit 2).
The overlay samples (three pairs per group) are the only files read a second time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.training.window import AUTO, Shown, WindowSpec, choose, parse, to_grey
from lungsegdb_cli.utils.fsutil import write_output
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


#: The mask overlay: its colour (RGB, 0-1) and opacity.
OVERLAY = (1.0, 0.0, 0.0)
OVERLAY_ALPHA = 0.35
#: Resolution of the PNG (pixels per inch of the figure).
DPI = 80


@dataclass(frozen=True)
class Panel:
    """One overlay in the PNG: its group and stem, the slice's box ``(x, y, w, h)`` in PNG
    pixels (top-left origin) and the window it was drawn with."""

    group: str
    stem: str
    box: tuple[int, int, int, int]
    window: Shown


@dataclass
class PlotResult:
    """The PNG written: where, the groups it has a row for, its overlays."""

    out: Path
    rows: list[str] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)


def check_window(value: str | None, plot: Path | None) -> WindowSpec:
    """``--window`` of ``stats``: a valid window (exit 2 otherwise), and only with ``--plot``."""
    spec = parse(value)
    if value is not None and plot is None:
        raise UsageError(
            "--window only applies to the overlays of --plot",
            hint="Give --plot FILE.png too, or leave --window out.",
        )
    return spec


def _display(arr: Any, window: WindowSpec = AUTO) -> tuple[Any, dict[str, Any], Shown]:
    """A slice ready for imshow, its imshow arguments and the window it is drawn with."""
    import numpy as np

    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] in (3, 4) and a.dtype == np.uint8:
        return a[:, :, :3], {}, Shown("rgb")
    if a.ndim == 3:
        a = a[:, :, 0]
    shown = choose(a, window)
    return to_grey(a, shown), {"cmap": "gray", "vmin": 0, "vmax": 255}, shown


def _mask_overlay(mask: Any) -> Any:
    import numpy as np

    from lungsegdb_cli.tiff.foreground import foreground

    m = foreground(np.asarray(mask))  # the one rule: alpha dropped, any channel != 0
    return np.ma.masked_where(~m, np.ones(m.shape, dtype=np.float32))


def _box(ax: Any, height: float) -> tuple[int, int, int, int]:
    """The axes' box in PNG pixels, top-left origin (after the layout and aspect are set)."""
    b = ax.get_window_extent()
    return round(b.x0), round(height - b.y1), round(b.width), round(b.height)


def render(result: Any, out: Path, *, window: WindowSpec | str | None = None) -> PlotResult:
    """Draw ``result`` (a :class:`~lungsegdb_cli.checks.stats.StatsResult`) into the PNG ``out``;
    sample slices are read from the tree the result describes, drawn through ``window``
    (``auto`` by default, see :func:`lungsegdb_cli.training.window.parse`)."""
    require()
    spec = parse(window)
    tree = Path(result.dataset_dir)
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np
    import tifffile
    from matplotlib.colors import ListedColormap

    from lungsegdb_cli.checks.stats import SAMPLES

    groups = [g for g in (result.groups or []) if g.pairs]
    rows = max(1, len(groups))
    cols = SAMPLES + 2
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False, dpi=DPI)
    red = ListedColormap([OVERLAY])
    drawn: list[tuple[Any, str, str, Shown]] = []
    if not groups:
        for ax in axes[0]:
            ax.set_axis_off()
        axes[0][0].text(0, 0.5, "no pairs to plot", fontsize=10)
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
            shown, kw, used = _display(img, spec)
            ax.imshow(shown, **kw)
            if msk.shape[:2] == shown.shape[:2]:
                ax.imshow(
                    _mask_overlay(msk),
                    cmap=red,
                    alpha=OVERLAY_ALPHA,
                    vmin=0,
                    vmax=1,
                    interpolation="nearest",
                )
            ax.set_title(f"{g.label}\n{pair.stem}\nwindow: {used.legend}", fontsize=8)
            drawn.append((ax, g.label, pair.stem, used))
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
    out = Path(out)
    try:
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=DPI)
        height = fig.bbox.height  # the boxes as drawn: savefig has applied every aspect
        panels = [Panel(label, stem, _box(ax, height), used) for ax, label, stem, used in drawn]
    finally:
        plt.close(fig)
    write_output(out, png.getvalue())  # a reader sees the old plot or the new one
    return PlotResult(out, [g.label for g in groups], panels)
