"""Values a researcher's tree may hold that are valid but unusual: float slices padded with
the largest float, NaN in a float mask or slice, a 0/-1 mask, a decode limit lowered after a
warm cache. Every number is checked against numpy or exact arithmetic, through the public
API and the CLI's ``--json`` (parsed strictly: ``NaN``/``Infinity`` are not JSON)."""

from __future__ import annotations

import json
import os
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: the CLI's run() is how these tests give argv and read --json
from lungsegdb_cli.cli.app import run
from tests.support.ct import slice_hu

GROUP = ("raw data", "V1")


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _tree(root: Path, pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    images = root / "LungSegDB" / GROUP[0] / GROUP[1] / "CT_Images"
    masks = images.parent / "CT_Masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for stem, (image, mask) in pairs.items():
        tifffile.imwrite(images / f"{stem}.tif", image)
        tifffile.imwrite(masks / f"{stem}.tif", mask)
    return root


def _padded(dtype: type, pad: float) -> tuple[np.ndarray, np.ndarray]:
    """A float HU slice whose padding outside the scan field is ``pad``; its 0/255 mask."""
    image, mask = slice_hu("float", (32, 32))
    out = image.astype(dtype)
    out[image < -1500] = pad
    return out, mask


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = run([*argv, "--json", "--quiet", "--no-cache"])
    return code, _strict(capsys.readouterr().out)


def _intensity(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, doc = _json(["stats", "--data-dir", str(root), "--variant", "raw"], capsys)
    assert code == 0
    (group,) = [g for g in doc["groups"] if g["version"] == "V1"]
    return group["intensity"]


@pytest.mark.parametrize(
    ("dtype", "pad"),
    [(np.float32, float(np.finfo(np.float32).max)), (np.float64, 1e100), (np.float32, -3e38)],
    ids=["float32-FLT_MAX", "float64-1e100", "float32--3e38"],
)
def test_a_float_slice_padded_with_huge_values_is_readable_and_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dtype: type, pad: float
) -> None:
    image, mask = _padded(dtype, pad)
    root = _tree(tmp_path, {"1": (image, mask)})
    code, doc = _json(["validate", "--data-dir", str(root)], capsys)
    assert code == 0
    assert [f["code"] for f in doc["findings"] if f["code"] != "count-mismatch"] == []
    got = _intensity(root, capsys)
    values = [Fraction(float(v)) for v in image.ravel()]
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    with localcontext() as ctx:
        ctx.prec = 40
        std = float((Decimal(var.numerator) / Decimal(var.denominator)).sqrt())
    assert got["pixels"] == image.size
    assert (got["min"], got["max"]) == (float(image.min()), float(image.max()))
    assert got["mean"] == pytest.approx(float(mean), rel=1e-12)
    assert got["std"] == pytest.approx(std, rel=1e-12)


@pytest.mark.parametrize("pad", [1e300, float(np.finfo(np.float64).max)], ids=["1e300", "max"])
@pytest.mark.parametrize("files", [1, 3])
def test_a_std_past_the_float64_range_is_null_and_the_mean_still_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pad: float, files: int
) -> None:
    image, mask = _padded(np.float64, pad)
    images = [image.copy() for _ in range(files)]
    for i, im in enumerate(images):
        im[: 2 * i] = pad  # each file padded differently: their means differ, near the limit
    root = _tree(tmp_path, {str(i): (im, mask) for i, im in enumerate(images)})
    got = _intensity(root, capsys)
    values = [Fraction(float(v)) for im in images for v in im.ravel()]
    assert got["mean"] == pytest.approx(float(sum(values) / len(values)), rel=1e-15)
    assert got["std"] is None  # the sum of squared deviations is past float64
    assert got["max"] == pad


def test_nan_in_a_float_mask_is_not_lung_and_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, mask = slice_hu("nanmask", (32, 32))
    fmask = (mask > 0).astype(np.float32)
    fmask[image < -1500] = np.nan  # "no data" outside the scan field
    lung = int(np.count_nonzero(mask))
    root = _tree(tmp_path, {"1": (image, fmask)})
    code, doc = _json(["validate", "--data-dir", str(root)], capsys)
    (finding,) = [f for f in doc["findings"] if f["code"] == "non-binary-mask"]
    assert "NaN or infinite" in finding["message"]
    code, doc = _json(["stats", "--data-dir", str(root), "--variant", "raw"], capsys)
    assert code == 0
    (group,) = [g for g in doc["groups"] if g["version"] == "V1"]
    assert group["foreground"]["mean"] == lung / fmask.size
    (pair,) = [p for p in L.pairs(root) if p.variant == GROUP[0]]
    assert int(L.load_pair(pair)[1].sum()) == lung
    out = tmp_path / "csv"
    assert run(["export", "csv", str(out), "--data-dir", str(root), "--quiet"]) == 0
    rows = (out / "pairs.csv").read_text().splitlines()
    assert rows[1].endswith(",non-binary")


def test_a_zero_minus_one_mask_is_labelled_0_slash_minus_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, mask = slice_hu("neg", (32, 32))
    root = _tree(tmp_path, {"1": (image, np.where(mask > 0, -1, 0).astype(np.int16))})
    code, doc = _json(["validate", "--data-dir", str(root)], capsys)
    assert code == 0
    (group,) = [g for g in doc["groups"] if g["version"] == "V1" and g["variant"] == "raw data"]
    assert group["convention"] == "0/-1"
    out = tmp_path / "csv"
    assert run(["export", "csv", str(out), "--data-dir", str(root), "--quiet"]) == 0
    assert (out / "pairs.csv").read_text().splitlines()[1].endswith(",0/-1")


def test_a_lowered_decode_limit_holds_with_a_warm_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path, {"1": slice_hu("a", (32, 32)), "2": slice_hu("b", (32, 32))})
    argv = ["validate", "--data-dir", str(root), "--json", "--quiet"]
    assert run(argv) == 0  # fills the decode cache under the default limit
    capsys.readouterr()
    monkeypatch.setenv("LUNGSEGDB_MAX_IMAGE_PIXELS", "1000")
    assert run(argv) == 1
    doc = _strict(capsys.readouterr().out)
    assert sum(f["code"] == "too-large" for f in doc["findings"]) == 4
    assert run(["stats", "--data-dir", str(root), "--quiet"]) == 1
    monkeypatch.delenv("LUNGSEGDB_MAX_IMAGE_PIXELS")
    assert run(argv) == 0


def test_a_group_with_no_readable_mask_has_every_foreground_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(tmp_path, {"1": slice_hu("a", (32, 32))})
    code, doc = _json(["stats", "--data-dir", str(root), "--variant", "raw"], capsys)
    assert code == 0
    keys = {g["version"]: list(g["foreground"]) for g in doc["groups"]}
    assert keys["V2"] == keys["V1"]  # V2 is absent: no mask at all
    assert doc["groups"][-1]["foreground"]["empty"] == 0


@pytest.mark.parametrize("regex", [r"^(case\d+)_", r"case\d+"])
def test_the_group_by_message_quotes_the_regex_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], regex: str
) -> None:
    root = _tree(tmp_path, {"other": slice_hu("a", (32, 32))})
    assert run(["split", "--data-dir", str(root), "--group-by", regex]) == 2
    err = capsys.readouterr().err
    assert f"'{regex}'" in err.replace("\n", "")


def test_validate_heads_each_severity_of_a_code_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(tmp_path, {"a": slice_hu("a", (32, 32)), "target": slice_hu("t", (32, 32))})
    images = root / "LungSegDB" / GROUP[0] / GROUP[1] / "CT_Images"
    masks = images.parent / "CT_Masks"
    os.symlink("target.tif", images / "in.tif")
    os.symlink("target.tif", masks / "in.tif")
    os.symlink("gone.tif", images / "dangle.tif")
    assert run(["validate", "--data-dir", str(root), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "symlink (error, 1):" in out
    assert "symlink (warning, 2):" in out
    error_block = out.split("symlink (error, 1):")[1].split("symlink (warning")[0]
    assert "dangle.tif" in error_block and "in.tif" not in error_block


def test_an_all_nan_mask_is_counted_as_one_value_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, _ = slice_hu("allnan", (32, 32))
    root = _tree(tmp_path, {"1": (image, np.full((32, 32), np.nan, np.float32))})
    code, doc = _json(["validate", "--data-dir", str(root)], capsys)
    assert code == 0  # warnings only
    found = {f["code"]: f["message"] for f in doc["findings"] if f["path"].endswith("1.tif")}
    assert found["non-binary-mask"] == (
        "1 distinct values (1024 NaN or infinite pixels); a binary mask has two"
    )
    assert found["empty-mask"] == "no foreground: every pixel is 0 or NaN"
