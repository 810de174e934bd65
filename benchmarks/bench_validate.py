"""Benchmark ``lungsegdb validate`` against the loop a user writes by hand.

The synthetic tree (``fixtures.synth_tree(scale)``) is not copied: a scratch data root gets a
symlink ``LungSegDB -> <cached tree>``, so validate's decode cache lands in the scratch root's
``.lungsegdb/cache``. The tree is read once first (page cache warm for both sides). Then:

* ``validate`` with the decode cache cleared before every round (a cold decode of every file)
  vs one process doing ``tifffile.imread`` on every image and mask and comparing shapes:
  target ratio <= 0.55, peak RSS < 250 MB;
* ``validate`` with a warm decode cache (nothing decoded) vs the same loop: reported.

Run standalone: ``python benchmarks/bench_validate.py --scale 0.1 --rounds 3``.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures import synth_tree
from harness import Comparison, Side

HAND_LOOP = textwrap.dedent(
    """\
    import sys
    from pathlib import Path

    import tifffile

    root = Path(sys.argv[1])
    bad = 0
    for images in sorted(root.glob("*/*/CT_Images")):
        masks = images.parent / "CT_Masks"
        for image in sorted(images.iterdir()):
            mask = masks / image.name
            if not mask.exists():
                bad += 1
                continue
            try:
                a = tifffile.imread(image)
                b = tifffile.imread(mask)
            except Exception:
                bad += 1
                continue
            if a.shape[:2] != b.shape[:2]:
                bad += 1
    print(bad)
    """
)


def prepare(work: Path, scale: float) -> tuple[Path, Path]:
    """(scratch data root linking to the cached tree, the tree); page cache warmed."""
    tree = synth_tree(scale).resolve()
    root = work / "validate-root"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "LungSegDB").symlink_to(tree, target_is_directory=True)
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as fh:
                while fh.read(1 << 20):
                    pass
    return root, tree


def clear_cache(root: Path) -> None:
    shutil.rmtree(root / ".lungsegdb" / "cache", ignore_errors=True)


def comparisons(work: Path, scale: float) -> list[Comparison]:
    root, tree = prepare(work, scale)
    script = work / "hand_validate.py"
    script.write_text(HAND_LOOP)
    argv = [sys.executable, "-m", "lungsegdb_cli", "validate", "--quiet", "--data-dir", str(root)]
    hand = [sys.executable, str(script), str(tree)]
    return [
        Comparison(
            "validate (cold) vs imread loop",
            Side("lungsegdb validate (cache cleared)", argv, setup=lambda: clear_cache(root)),
            Side("tifffile.imread loop (1 process)", hand),
            max_ratio=0.55,
            rss_limit_mb=250,
        ),
        Comparison(
            "validate (warm) vs imread loop",
            Side("lungsegdb validate (warm cache)", argv),
            Side("tifffile.imread loop (1 process)", hand),
            rss_limit_mb=250,
        ),
    ]


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "validate", *sys.argv[1:]]))
