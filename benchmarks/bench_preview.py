"""Benchmark ``lungsegdb preview`` against the matplotlib script a user would write by hand.

Same setup as ``bench_validate.py`` (a scratch data root linking to the cached synthetic tree,
page cache warm). Both sides draw 8 pairs per variant x version (32 tiles) with the mask
outline over the slice and save one PNG:

* ``lungsegdb preview OUT.png --n 8`` vs a script that globs each group's ``CT_Images``, takes
  the first 8 with their masks, ``imshow`` + ``contour`` on a 4 x 8 grid of subplots and
  ``savefig``: target ours < 5 s at full scale (the issue's "a few seconds"), ratio reported.

Needs the ``[plot]`` extra (matplotlib, Pillow).

Run standalone: ``python benchmarks/bench_preview.py --scale 0.1 --rounds 3``.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validate import prepare
from harness import Comparison, Side

HAND_SCRIPT = textwrap.dedent(
    """\
    import sys
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tifffile

    root, out = Path(sys.argv[1]), sys.argv[2]
    groups = sorted(root.glob("*/*/CT_Images"))
    fig, axes = plt.subplots(len(groups), 8, figsize=(16, 2 * len(groups)))
    for row, images in zip(axes, groups):
        names = sorted(images.iterdir())[:8]
        for ax, image in zip(row, names):
            a = tifffile.imread(image)
            m = tifffile.imread(images.parent / "CT_Masks" / image.name)
            ax.imshow(a if a.ndim == 3 else a, cmap="gray")
            ax.contour(m > 0, levels=[0.5], colors="red", linewidths=0.8)
            ax.set_axis_off()
    fig.savefig(out, dpi=80)
    """
)


def comparisons(work: Path, scale: float) -> list[Comparison]:
    root, tree = prepare(work, scale)
    script = work / "hand_preview.py"
    script.write_text(HAND_SCRIPT)
    ours = [
        sys.executable,
        "-m",
        "lungsegdb_cli",
        "preview",
        str(work / "ours.png"),
        "--n",
        "8",
        "--data-dir",
        str(root),
        "--quiet",
    ]
    hand = [sys.executable, str(script), str(tree), str(work / "hand.png")]
    return [
        Comparison(
            "preview vs matplotlib script",
            Side("lungsegdb preview --n 8", ours),
            Side("imshow + contour, 32 tiles", hand),
            max_seconds=5.0,
        ),
    ]


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "preview", *sys.argv[1:]]))
