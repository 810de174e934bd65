"""Benchmark ``lungsegdb stats`` against a hand-written single-process tifffile loop.

Same setup as ``bench_validate.py`` (a scratch data root linking to the cached synthetic tree,
page cache warm). The loop computes the same numbers per group: pairs, shapes, dtypes,
intensity min/max/mean/std over every pixel (float64 sums), foreground fraction per mask
(min/mean/max and percentiles), bytes on disk.

* ``stats`` with the decode cache cleared before every round vs the loop: target ratio <= 0.25
  (issue: both cores), both cores busy (our CPU time / wall time >= 1.6), peak RSS < 250 MB;
* ``stats`` after ``validate`` (warm decode cache: nothing decoded) vs the loop: reported.

Run standalone: ``python benchmarks/bench_stats.py --scale 0.1 --rounds 3``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validate import clear_cache, prepare
from harness import Comparison, Side

HAND_LOOP = textwrap.dedent(
    """\
    import math
    import sys
    from collections import Counter
    from pathlib import Path

    import numpy as np
    import tifffile

    root = Path(sys.argv[1])
    for images in sorted(root.glob("*/*/CT_Images")):
        masks = images.parent / "CT_Masks"
        n, s1, s2, lo, hi = 0, 0.0, 0.0, math.inf, -math.inf
        fg, shapes, dtypes, nbytes = [], Counter(), Counter(), 0
        for image in sorted(images.iterdir()):
            mask = masks / image.name
            a = tifffile.imread(image)
            m = tifffile.imread(mask)
            f = a.astype(np.float64)
            n += f.size
            s1 += f.sum()
            s2 += np.square(f).sum()
            lo, hi = min(lo, f.min()), max(hi, f.max())
            fg.append(np.count_nonzero(m) / m.size)
            shapes["x".join(map(str, a.shape))] += 1
            dtypes[str(a.dtype)] += 1
            nbytes += image.stat().st_size + mask.stat().st_size
        mean = s1 / n
        std = math.sqrt(max(s2 / n - mean * mean, 0.0))
        pct = np.percentile(fg, [5, 25, 50, 75, 95])
        print(images.parent.relative_to(root), len(fg), lo, hi, mean, std,
              min(fg), np.mean(fg), max(fg), pct, len(shapes), dict(dtypes), nbytes)
    """
)


def comparisons(work: Path, scale: float) -> list[Comparison]:
    root, tree = prepare(work, scale)
    script = work / "hand_stats.py"
    script.write_text(HAND_LOOP)
    stats = [sys.executable, "-m", "lungsegdb_cli", "stats", "--quiet", "--data-dir", str(root)]
    validate = [sys.executable, "-m", "lungsegdb_cli", "validate", "--quiet"]

    def warm() -> None:
        """Make sure the decode cache is complete (as after a validate run)."""
        subprocess.run([*validate, "--data-dir", str(root)], check=False, capture_output=True)

    hand = [sys.executable, str(script), str(tree)]
    return [
        Comparison(
            "stats (cold) vs tifffile loop",
            Side("lungsegdb stats (cache cleared)", stats, setup=lambda: clear_cache(root)),
            Side("tifffile loop, same numbers (1 process)", hand),
            max_ratio=0.25,
            rss_limit_mb=250,
            min_cores=1.6,
        ),
        Comparison(
            "stats after validate vs loop",
            Side("lungsegdb stats (warm cache)", stats, setup=warm),
            Side("tifffile loop, same numbers (1 process)", hand),
            rss_limit_mb=250,
        ),
    ]


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "stats", *sys.argv[1:]]))
