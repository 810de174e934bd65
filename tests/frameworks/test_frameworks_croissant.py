"""The Croissant metadata, read by the real mlcroissant (the ``[croissant]`` extra).

``mlcroissant validate`` passes with only the two warnings docs/export.md names (Croissant
recommends ``datePublished`` and ``version``; LungSegDB publishes neither and lungsegdb does
not invent them), and ``mlcroissant.Dataset(..., mapping={"archive": <the kept archive>})
.records("pairs")`` yields every pair -- no lone image, no junk file -- with its fields, and
images and masks whose pixels are the tree's (int16 Hounsfield units with padded corners
included). mlcroissant runs in a child process with its cache (``CROISSANT_CACHE``, read when it
is imported) under the test's tmp_path.

Marked ``frameworks``: run with ``pytest -m frameworks`` after installing
``.[frameworks,croissant]`` (``.ci/run`` does); a missing mlcroissant fails, never skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from support import hu_archive

import lungsegdb_cli as L

pytestmark = pytest.mark.frameworks

#: What the child prints per record: the fields as text, the pixels' digest, dtype and shape.
READER = r"""
import hashlib, json, sys
import numpy as np
import mlcroissant as mlc

doc, archive = sys.argv[1], sys.argv[2]
out = []
for rec in mlc.Dataset(doc, mapping={"archive": archive}).records("pairs"):
    row = {}
    for key, value in rec.items():
        name = key.split("/", 1)[1]
        if name in ("image", "mask"):
            arr = np.ascontiguousarray(np.asarray(value))
            row[name] = [hashlib.sha256(arr.tobytes()).hexdigest(), str(arr.dtype),
                         list(arr.shape), int(arr.min()), int(arr.max())]
        else:
            row[name] = value.decode() if isinstance(value, bytes) else value
    out.append(row)
print(json.dumps(out))
"""


def _mlcroissant() -> str:
    """The mlcroissant console script of this environment (the extra installs it)."""
    beside = Path(sys.executable).with_name("mlcroissant")
    found = str(beside) if beside.exists() else shutil.which("mlcroissant")
    assert found, "mlcroissant is not installed: pip install '.[croissant]'"
    return found


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "CROISSANT_CACHE": str(tmp / "croissant-cache")}


def _records(doc: Path, archive: Path, tmp: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-c", READER, str(doc), str(archive)],
        env=_env(tmp),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def _pixels(path: Path) -> tuple[np.ndarray, list[Any]]:
    arr = np.ascontiguousarray(tifffile.imread(path))
    return arr, [str(arr.dtype), list(arr.shape), int(arr.min()), int(arr.max())]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(data root, kept archive, croissant.json) of the HU archive, splits in force."""
    tmp = tmp_path_factory.mktemp("croissant-fw")
    archive = tmp / "LungSegDB.zip"
    hu_archive.build(archive, pairs=3)
    L.download(tmp / "data", archive=archive)
    L.split(tmp / "data", seed=3)
    result = L.croissant(tmp / "data", out=tmp / "croissant.json")
    assert result.mapping == {"archive": str(archive)}
    return tmp / "data", archive, Path(str(result.out))


def test_mlcroissant_validate_passes_with_only_the_named_warnings(
    installed: tuple[Path, Path, Path],
) -> None:
    doc = installed[2]
    proc = subprocess.run(
        [_mlcroissant(), "validate", "--jsonld", str(doc)],
        env=_env(doc.parent),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "error" not in proc.stderr.lower()
    assert "@context` is not standard" not in proc.stderr
    warnings = [line.strip() for line in proc.stderr.splitlines() if line.startswith("  -  ")]
    assert warnings == [
        '-  [Metadata(LungSegDB)] Property "https://schema.org/datePublished" is recommended, '
        "but does not exist.",
        '-  [Metadata(LungSegDB)] Property "https://schema.org/version" is recommended, but '
        "does not exist.",
    ]


def test_records_yield_every_pair_with_its_fields_and_pixels(
    installed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    root, archive, doc = installed
    records = _records(doc, archive, tmp_path)
    pairs = L.pairs(root)
    assert len(records) == len(pairs) == 12  # the lone image and the junk file are none
    by_key = {(r["variant"], r["version"], r["stem"]): r for r in records}
    assert len(by_key) == len(records)
    for p in pairs:
        rec = by_key[(p.variant, p.version, p.stem)]
        assert rec["group"] == p.group and rec["split"] == p.split
        assert rec["image_path"] == hu_archive.member(
            f"{p.variant}/{p.version}/CT_Images", p.image.name
        )
        assert rec["mask_path"] == hu_archive.member(
            f"{p.variant}/{p.version}/CT_Masks", p.mask.name
        )
        image, facts = _pixels(p.image)
        # PIL hands int16 slices over as int32: same values, padded corners included
        digest, dtype, shape, lo, hi = rec["image"]
        assert [shape, lo, hi] == facts[1:]
        if image.dtype == np.int16:
            assert dtype == "int32" and lo == hu_archive.PAD
            image = image.astype(np.int32)
        else:
            assert dtype == facts[0]
        assert digest == hashlib.sha256(image.tobytes()).hexdigest()
        mask, mfacts = _pixels(p.mask)
        assert (
            rec["mask"][1:] == mfacts
            and rec["mask"][0] == hashlib.sha256(mask.tobytes()).hexdigest()
        )
        assert (rec["mask"][3], rec["mask"][4]) == (0, 255)


def test_a_tar_gz_archive_and_an_export_load_too(tmp_path: Path) -> None:
    made = L.synth(tmp_path / "s", pairs=2, fmt="tar.gz", wrap="top")
    L.download(tmp_path / "data", archive=made.archive.path)
    result = L.export("croissant", tmp_path / "out", tmp_path / "data")
    doc = Path(result.out) / "croissant.json"
    records = _records(doc, Path(made.archive.path), tmp_path)
    assert len(records) == len(L.pairs(tmp_path / "data")) == 8
    assert {r["split"] for r in records} <= {"train", "val", "test"}
    assert all(r["image_path"].startswith("top/LungSegDB/") for r in records)


#: Reads several (document, archive) pairs in ONE process with one cache: per document, each
#: record's image path and the digest of its pixels (None when mlcroissant found no file).
MANY_READER = r"""
import hashlib, json, sys
import numpy as np
import mlcroissant as mlc

out = []
for doc, archive in zip(sys.argv[1::2], sys.argv[2::2]):
    rows = {}
    for rec in mlc.Dataset(doc, mapping={"archive": archive}).records("pairs"):
        img = rec["pairs/image"]
        rows[rec["pairs/image_path"].decode()] = None if img is None else hashlib.sha256(
            np.ascontiguousarray(np.asarray(img)).tobytes()).hexdigest()
    out.append(rows)
print(json.dumps(out))
"""


def test_two_archives_given_by_hand_each_load_their_own_pixels_through_one_cache(
    tmp_path: Path,
) -> None:
    """mlcroissant caches an archive's extraction by ``contentUrl`` alone: two different
    archives installed with ``--archive`` must not share one, or the second document yields
    the first archive's pixels (or None) -- with the same cache, in the same process."""
    trees, argv = [], []
    for seed in (0, 1):
        made = L.synth(tmp_path / f"s{seed}", pairs=2, seed=seed)
        root = tmp_path / f"d{seed}"
        L.download(root, archive=made.archive.path)
        result = L.croissant(root, out=tmp_path / f"c{seed}.json")
        trees.append(root)
        argv += [str(result.out), str(made.archive.path)]
    docs = [json.loads(Path(argv[i]).read_text())["distribution"][0] for i in (0, 2)]
    assert docs[0]["sha256"] != docs[1]["sha256"]
    proc = subprocess.run(
        [sys.executable, "-c", MANY_READER, *argv],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    loaded = json.loads(proc.stdout)
    differ = 0
    for root, rows in zip(trees, loaded, strict=True):
        pairs = L.pairs(root)
        assert len(rows) == len(pairs) > 0
        for path, digest in rows.items():
            image, _ = _pixels(root / path)
            if image.dtype == np.int16:
                image = image.astype(np.int32)  # PIL hands int16 over as int32
            assert digest == hashlib.sha256(image.tobytes()).hexdigest(), (root, path)
            other = trees[1] if root == trees[0] else trees[0]
            differ += not np.array_equal(
                tifffile.imread(other / path), tifffile.imread(root / path)
            )
    assert differ, "the two synth archives must differ in pixels for the test to mean anything"
    assert docs[0]["contentUrl"] != docs[1]["contentUrl"]
