"""Benchmark ``lungsegdb export`` against copying the tree by hand (``cp -r``).

The tree is the cached synthetic one (scale 1.0: 10,000 TIFFs, ~3.3 GB), behind a scratch
data root with the default splits in force; page cache warm. Each round exports into an
absent folder (removed, dirty pages flushed, before the timer starts):

* ``export folders`` (every file hard-linked) vs ``cp -r``: target ratio < 0.5;
* ``export nnunet`` (images hard-linked, masks rewritten 0/1, RGB slices made one channel,
  dataset.json, splits) vs ``cp -r``: target ratio <= 1.0 (copy speed: the 6,400 files it
  must decode and write anew are the floor, on both cores; docs/performance.md), no image
  copied.

After the rounds each export is checked to hold no second copy of the images: every image in
it shares its inode with the tree (``images_linked``), except, for nnunet, the RGB images
(raw V2) it must rewrite single-channel; any other copy fails the target.

Run standalone: ``python benchmarks/bench_export.py --scale 0.1 --rounds 3``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tifffile
from bench_validate import prepare
from harness import Comparison, Side


def _absent(*folders: Path):
    def setup() -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        os.sync()

    return setup


def _tree_inodes(tree: Path) -> set[int]:
    return {os.stat(os.path.join(d, n)).st_ino for d, _s, ns in os.walk(tree) for n in ns}


def image_copies(out: Path, tree: Path) -> tuple[int, int]:
    """(images in ``out`` sharing an inode with ``tree``, images in ``out`` that do not)."""
    inodes = _tree_inodes(tree)
    linked = copied = 0
    for dirpath, _dirs, names in os.walk(out):
        if not any(part in dirpath for part in ("images", "imagesTr", "imagesTs")):
            continue
        for name in names:
            if name.endswith(".tif"):
                if os.stat(os.path.join(dirpath, name)).st_ino in inodes:
                    linked += 1
                else:
                    copied += 1
    return linked, copied


def multi_channel_images(tree: Path) -> int:
    """Images in ``tree`` stored with more than one sample per pixel (headers only)."""
    n = 0
    for images in tree.glob("*/*/CT_Images"):
        for path in images.iterdir():
            with tifffile.TiffFile(path) as tif:
                n += tif.pages[0].samplesperpixel > 1
    return n


@dataclass
class ExportComparison(Comparison):
    """A :class:`Comparison` whose target also needs the export to hold no image copy."""

    out: Path | None = None
    tree: Path | None = None
    may_write: int = 0  # images the format must rewrite (nnunet: RGB -> one channel)
    linked: int = 0
    copied: int = -1

    def run(self, rounds: int) -> None:
        super().run(rounds)
        assert self.out is not None and self.tree is not None
        self.linked, self.copied = image_copies(self.out, self.tree)

    @property
    def target(self) -> str:
        return super().target + ", no image copied"

    @property
    def met(self) -> bool:
        return super().met and 0 <= self.copied <= self.may_write and self.linked > 0

    def row(self) -> dict[str, object]:
        return {**super().row(), "images_linked": self.linked, "images_copied": self.copied}


def prepare_split(work: Path, scale: float, name: str) -> tuple[Path, Path, Path]:
    """(data root, tree, scratch folder ``<name>-<pid>``): the tree of ``bench_validate``
    with the default splits in force, the scratch folder on the tree's file system (hard
    links possible, as for a user's data dir) and removed at exit."""
    root, tree = prepare(work, scale)
    base = tree.parent.parent / f"{name}-{os.getpid()}"
    base.mkdir(exist_ok=True)
    atexit.register(shutil.rmtree, base, True)
    subprocess.run(
        [sys.executable, "-m", "lungsegdb_cli", "split", "--data-dir", str(root), "--quiet"],
        check=True,
    )
    return root, tree, base


def comparisons(work: Path, scale: float) -> list[Comparison]:
    root, tree, base = prepare_split(work, scale, "export-bench")
    cp_out = base / "cp"
    rows: list[Comparison] = []
    for fmt in ("folders", "nnunet"):
        out = base / fmt
        argv = [
            sys.executable,
            "-m",
            "lungsegdb_cli",
            "export",
            fmt,
            str(out),
            "--data-dir",
            str(root),
            "--quiet",
        ]
        rows.append(
            ExportComparison(
                f"export {fmt} vs cp -r",
                Side(f"lungsegdb export {fmt}", argv, setup=_absent(out)),
                Side("cp -r", ["cp", "-r", str(tree), str(cp_out)], setup=_absent(cp_out)),
                max_ratio=0.5 if fmt == "folders" else 1.0,
                out=out,
                tree=tree,
                may_write=multi_channel_images(tree) if fmt == "nnunet" else 0,
            )
        )
    return rows


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "export", *sys.argv[1:]]))
