"""Benchmark the packed exports, ``export hf`` and ``export webdataset``, against the by-hand route.

The tree is the cached synthetic one (scale 1.0: 10,000 TIFFs, ~3.3 GB), behind a scratch
data root with the default splits in force; page cache warm. Each round writes into an absent
folder (removed, dirty pages flushed, before the timer starts). The by-hand side builds the
same thing the way its library's documentation shows, one process, reading the same splits:

* ``export hf`` vs a script that reads each pair (image bytes as stored, mask rewritten 0/1 as
  a TIFF) into lists, then ``datasets.Dataset.from_dict(..., features=...)`` and
  ``.to_parquet(...)`` per variant and split (what ``push_to_hub`` starts from);
* ``export webdataset`` vs a script writing the same samples with ``webdataset.ShardWriter``
  (``maxsize`` 256 MB) per split.

Target: ours not slower (ratio <= 1.0). The by-hand scripts need ``datasets`` and
``webdataset`` (the ``[frameworks]`` extra).

Run standalone: ``python benchmarks/bench_packed.py --scale 0.1 --rounds 3``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_export import prepare_split
from harness import Comparison, Side

#: The shared part of both by-hand scripts: the pairs with their split, the 0/1 mask TIFF.
_COMMON = """
import io, json, os, sys
import numpy as np, tifffile
import lungsegdb_cli as L

root, out = sys.argv[1], sys.argv[2]
pairs = L.pairs(root)

def mask_tiff(path):
    buf = io.BytesIO()
    tifffile.imwrite(buf, (tifffile.imread(path, key=0) != 0).astype(np.uint8),
                     compression="zlib")
    return buf.getvalue()

def read(path):
    with open(path, "rb") as fh:
        return fh.read()
"""

HAND_HF = (
    _COMMON
    + """
import datasets

features = datasets.Features({
    "image": datasets.Value("binary"), "mask": datasets.Value("binary"),
    "stem": datasets.Value("string"), "variant": datasets.Value("string"),
    "version": datasets.Value("string"), "group": datasets.Value("string"),
})
names = {"train": "train", "val": "validation", "test": "test"}
for variant in ("preprocessed data", "raw data"):
    for split in ("train", "val", "test"):
        chosen = [p for p in pairs if p.variant == variant and p.split == split]
        rows = {name: [] for name in features}
        for p in chosen:
            rows["image"].append(read(p.image))
            rows["mask"].append(mask_tiff(p.mask))
            for name in ("stem", "variant", "version", "group"):
                rows[name].append(getattr(p, name))
        ds = datasets.Dataset.from_dict(rows, features=features)
        folder = os.path.join(out, variant.split()[0])
        os.makedirs(folder, exist_ok=True)
        ds.to_parquet(os.path.join(folder, f"{names[split]}-00000-of-00001.parquet"))
"""
)

HAND_WDS = (
    _COMMON
    + """
import webdataset as wds

for split in ("train", "val", "test"):
    folder = os.path.join(out, split)
    os.makedirs(folder, exist_ok=True)
    pattern = os.path.join(folder, f"lungsegdb-{split}-%06d.tar")
    with wds.ShardWriter(pattern, maxsize=256e6, verbose=0) as sink:
        for p in (p for p in pairs if p.split == split):
            sink.write({
                "__key__": f"{p.variant.split()[0]}_{p.version.lower()}_{p.stem}",
                "image.tif": read(p.image),
                "mask.tif": mask_tiff(p.mask),
                "json": {"group": p.group, "split": p.split, "stem": p.stem,
                         "variant": p.variant, "version": p.version},
            })
"""
)


def _absent(*folders: Path):
    def setup() -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        os.sync()

    return setup


def comparisons(work: Path, scale: float) -> list[Comparison]:
    root, _tree, base = prepare_split(work, scale, "packed-bench")
    rows: list[Comparison] = []
    for fmt, script, label in (
        ("hf", HAND_HF, "datasets.Dataset.from_dict + to_parquet"),
        ("webdataset", HAND_WDS, "webdataset.ShardWriter"),
    ):
        ours_out, hand_out = base / fmt, base / f"hand-{fmt}"
        hand = work / f"hand_{fmt}.py"
        hand.write_text(script)
        env = {
            **os.environ,
            "HF_DATASETS_CACHE": str(work / "hf-cache"),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        }
        rows.append(
            Comparison(
                f"export {fmt} vs by hand",
                Side(
                    f"lungsegdb export {fmt}",
                    [
                        sys.executable,
                        "-m",
                        "lungsegdb_cli",
                        "export",
                        fmt,
                        str(ours_out),
                        "--data-dir",
                        str(root),
                        "--quiet",
                    ],
                    setup=_absent(ours_out),
                ),
                Side(
                    label,
                    [sys.executable, str(hand), str(root), str(hand_out)],
                    setup=_absent(hand_out),
                    env=env,
                ),
                max_ratio=1.0,
            )
        )
    return rows


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "packed", *sys.argv[1:]]))
