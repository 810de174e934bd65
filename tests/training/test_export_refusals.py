"""An export never places a pair it cannot read as it is or whose mask does not fit its image
(docs/export.md, "What export checks"): exit 1 naming the file, nothing exported. Each tree is
built here: three good pairs (``int16`` Hounsfield units, 0/255 masks) and one bad pair."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: cli/app's run, for the exit code and the JSON error document in one process
from lungsegdb_cli.cli.app import run

RNG = np.random.default_rng(0)
HU = RNG.integers(-3024, 3000, (32, 32)).astype(np.int16)
MASK = np.zeros((32, 32), np.uint8)
MASK[5:20, 5:20] = 255


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def truncated_image(images: Path, masks: Path) -> str:
    tifffile.imwrite(images / "bad.TIF", HU)
    _truncate(images / "bad.TIF")
    tifffile.imwrite(masks / "bad.TIF", MASK)
    return "CT_Images/bad.TIF"


def truncated_deflate_image(images: Path, masks: Path) -> str:
    tifffile.imwrite(images / "bad.TIF", HU, compression="zlib", rowsperstrip=4)
    _truncate(images / "bad.TIF")
    tifffile.imwrite(masks / "bad.TIF", MASK)
    return "CT_Images/bad.TIF"


def shape_mismatch(images: Path, masks: Path) -> str:
    tifffile.imwrite(images / "bad.TIF", HU)
    tifffile.imwrite(masks / "bad.TIF", MASK[:30, :31])
    return "CT_Masks/bad.TIF"


def shape_mismatch_compressed(images: Path, masks: Path) -> str:
    tifffile.imwrite(images / "bad.TIF", HU, compression="zlib")
    tifffile.imwrite(masks / "bad.TIF", MASK[:30, :31], compression="zlib")
    return "CT_Masks/bad.TIF"


def two_page_image(images: Path, masks: Path) -> str:
    tifffile.imwrite(images / "bad.TIF", np.stack([HU, HU]))
    tifffile.imwrite(masks / "bad.TIF", MASK)
    return "CT_Images/bad.TIF"


def two_page_mask(images: Path, masks: Path) -> str:
    tifffile.imwrite(images / "bad.TIF", HU)
    tifffile.imwrite(masks / "bad.TIF", np.stack([MASK // 255, MASK // 255]))
    return "CT_Masks/bad.TIF"


def _tree(root: Path, bad: Callable[[Path, Path], str] | None) -> tuple[Path, str | None]:
    images = root / "LungSegDB" / "raw data" / "V1" / "CT_Images"
    masks = images.parent / "CT_Masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for stem in ("good1", "good2", "good3"):
        tifffile.imwrite(images / f"{stem}.TIF", HU)
        tifffile.imwrite(masks / f"{stem}.TIF", MASK)
    return root, None if bad is None else bad(images, masks)


LINKED = ("nnunet", "monai", "folders")
PACKED = ("hf", "webdataset")
#: (the bad pair, the formats that must refuse it, what the message says, validate's code)
CASES = [
    (truncated_image, LINKED + PACKED, "truncated", "unreadable"),
    (truncated_deflate_image, LINKED + PACKED, "truncated", "unreadable"),
    (shape_mismatch, LINKED + PACKED, "shape-mismatch: mask 30x31, image 32x32", "shape-mismatch"),
    (
        shape_mismatch_compressed,
        LINKED + PACKED,
        "shape-mismatch: mask 30x31, image 32x32",
        "shape-mismatch",
    ),
    (two_page_image, LINKED, "2 pages", "multi-page"),
    (two_page_mask, LINKED, "2 pages", "multi-page"),
]


@pytest.mark.parametrize(
    ("bad", "refused", "says", "code"), CASES, ids=[c[0].__name__ for c in CASES]
)
@pytest.mark.parametrize("fmt", LINKED + PACKED)
def test_export_refuses_a_pair_it_cannot_place(
    bad, refused, says, code, fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, rel = _tree(tmp_path / "t", bad)
    assert code in {f.code for f in L.validate(root, use_cache=False).findings}
    out = tmp_path / "out"
    rc = run(["export", fmt, str(out), "--data-dir", str(root), "--json"])
    doc = json.loads(capsys.readouterr().out)
    if fmt not in refused:  # the packed formats store the bytes; readers take key=0
        assert rc == 0, doc
        return
    assert rc == 1, doc
    err = doc["error"]
    assert err["kind"] == "check-failed"
    assert rel in err["message"] and says in err["message"], err["message"]
    assert "validate" in err["hint"]
    assert not out.exists()


@pytest.mark.parametrize("fmt", LINKED + PACKED)
def test_a_clean_tree_still_exports(fmt: str, tmp_path: Path) -> None:
    root, _ = _tree(tmp_path / "t", None)
    result = L.export(fmt, tmp_path / "out", root)
    assert sum(result.counts.values()) == 3


ALL_FORMATS = ("nnunet", "monai", "folders", "csv", "hf", "webdataset", "croissant")
#: (the tree, --variant, exit code, error kind, what the message names)
EMPTY = [
    ("raw-only", "preprocessed", 2, "usage", "has no 'preprocessed data'"),
    ("no-pair", None, 1, "check-failed", "holds no image/mask pair"),
    ("no-pair", "raw", 1, "check-failed", "holds no image/mask pair"),
]


def _empty_tree(root: Path, kind: str) -> Path:
    """``raw-only``: three raw V1 pairs; ``no-pair``: the folders, no pair (a lone image)."""
    if kind == "raw-only":
        return _tree(root, None)[0]
    images = root / "LungSegDB" / "raw data" / "V1" / "CT_Images"
    images.mkdir(parents=True)
    (images.parent / "CT_Masks").mkdir()
    tifffile.imwrite(images / "lone.TIF", HU)
    return root


@pytest.mark.parametrize(
    ("tree", "variant", "code", "kind", "says"), EMPTY, ids=[f"{t}-{v}" for t, v, *_ in EMPTY]
)
@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_an_export_of_nothing_is_refused_before_anything_is_written(
    tree: str,
    variant: str | None,
    code: int,
    kind: str,
    says: str,
    fmt: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """An export whose selection holds no pair is refused, never an empty dataset reported
    as exported: a variant the tree has no pair of is exit 2 naming it and what the tree
    holds; a tree without a pair exit 1. Nothing is written, not even OUT's parent."""
    root = _empty_tree(tmp_path / "t", tree)
    out = tmp_path / "new" / "out"
    args = ["export", fmt, str(out), "--data-dir", str(root), "--json"]
    rc = run(args + (["--variant", variant] if variant else []))
    err = json.loads(capsys.readouterr().out)["error"]
    assert (rc, err["kind"]) == (code, kind), err
    assert says in err["message"], err["message"]
    if code == 2:
        assert "--variant raw" in err["hint"], err["hint"]
    assert not (tmp_path / "new").exists()
    error = L.UsageError if code == 2 else L.CheckFailed
    with pytest.raises(error, match=says):
        L.export(fmt, out, root, variant=variant)
    assert not (tmp_path / "new").exists()
