"""stats: numbers checked against numpy on every pixel concatenated."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import stats, validate
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset import paths, tree
from lungsegdb_cli.dataset.card import Group

PRE_V1 = Group("preprocessed data", "V1")
RAW_V1 = Group("raw data", "V1")
RAW_V2 = Group("raw data", "V2")


def linked(tmp_path: Path, tree_dir: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "LungSegDB").symlink_to(tree_dir, target_is_directory=True)
    return root


def numpy_stats(dataset_dir: Path, group: Group) -> dict[str, Any]:
    """The reference: every readable image of the group's pairs concatenated, as float64."""
    gs = next(g for g in tree.scan(dataset_dir).groups if g.group == group)
    pixels, fg = [], []
    for p in gs.pairs:
        try:
            img = tifffile.imread(dataset_dir / p.image.rel)
        except Exception:
            img = None
        if img is not None:
            pixels.append(np.asarray(img, dtype=np.float64).ravel())
        try:
            m = tifffile.imread(dataset_dir / p.mask.rel)
        except Exception:
            continue
        m = (m > 0).any(axis=-1) if m.ndim == 3 else m > 0
        fg.append(m.mean())
    a = np.concatenate(pixels)
    return {"min": a.min(), "max": a.max(), "mean": a.mean(), "std": a.std(), "fg": fg}


def check_group(got: dict[str, Any], ref: dict[str, Any]) -> None:
    i = got["intensity"]
    assert i["min"] == ref["min"] and i["max"] == ref["max"]
    assert i["mean"] == pytest.approx(ref["mean"], rel=1e-12, abs=1e-9)
    assert i["std"] == pytest.approx(ref["std"], rel=1e-10)
    fg = got["foreground"]
    assert fg["min"] == pytest.approx(min(ref["fg"]))
    assert fg["max"] == pytest.approx(max(ref["fg"]))
    assert fg["mean"] == pytest.approx(np.mean(ref["fg"]))
    assert fg["p50"] == pytest.approx(np.percentile(ref["fg"], 50))


def test_synth_tree_numbers_match_numpy(tmp_path: Path, synth_tree: Path) -> None:
    result = stats.compute(paths.resolve(linked(tmp_path, synth_tree)))
    doc = result.to_dict()
    assert [(g["variant"], g["version"]) for g in doc["groups"]] == [
        (g.variant, g.version) for g in dataset.GROUPS
    ]
    for g, group in zip(doc["groups"], dataset.GROUPS, strict=True):
        assert g["pairs"] == 3
        check_group(g, numpy_stats(synth_tree, group))
        assert g["conventions"] == {"0/255": 3}
        assert g["bytes"] == sum(
            (synth_tree / p).stat().st_size
            for p in [
                f"{d}/{n}" for d in (group.images, group.masks) for n in os.listdir(synth_tree / d)
            ]
        )
    assert doc["total"]["pairs"] == 12
    assert doc["groups"][2]["dtypes"] == {"int16": 3}  # raw V1: signed HU values
    assert doc["groups"][2]["intensity"]["min"] < 0


def build_mixed(root: Path) -> None:
    """A group with mixed sizes and dtypes (uint8, int16 negative, float32, RGB)."""
    rng = np.random.default_rng(7)
    images = [
        rng.integers(0, 256, (30, 41), dtype=np.uint8),
        rng.integers(-1024, 2000, (64, 64)).astype(np.int16),
        (rng.standard_normal((17, 23)) * 300).astype(np.float32),
        rng.integers(0, 256, (20, 25, 3), dtype=np.uint8),
        rng.integers(0, 65536, (12, 12)).astype(np.uint16),
    ]
    for i, img in enumerate(images):
        (root / PRE_V1.images).mkdir(parents=True, exist_ok=True)
        (root / PRE_V1.masks).mkdir(parents=True, exist_ok=True)
        kw = {"photometric": "rgb"} if img.ndim == 3 else {}
        tifffile.imwrite(root / PRE_V1.images / f"{i}.TIF", img, compression="zlib", **kw)
        mask = (rng.random(img.shape[:2]) > 0.5 + 0.1 * i).astype(np.uint8) * (1 if i % 2 else 255)
        tifffile.imwrite(root / PRE_V1.masks / f"{i}.tif", mask)


def test_mixed_sizes_and_dtypes_match_numpy(tmp_path: Path) -> None:
    root = tmp_path / "LungSegDB"
    build_mixed(root)
    doc = stats.compute(paths.resolve(tmp_path), use_cache=False).to_dict()
    g = doc["groups"][0]
    check_group(g, numpy_stats(root, PRE_V1))
    assert g["mixed_dtypes"] is True
    assert g["dtypes"] == {"uint8": 2, "int16": 1, "float32": 1, "uint16": 1}
    assert set(g["intensity_by_dtype"]) == {"uint8", "int16", "float32", "uint16"}
    assert g["shapes"]["20x25x3"] == 1 and g["shapes"]["64x64"] == 1
    assert g["conventions"] == {"0/255": 3, "0/1": 2}
    # every other group is absent: zero pairs, no numbers
    for other in doc["groups"][1:]:
        assert other["pairs"] == 0 and other["present"] is False
        assert other["intensity"]["mean"] is None and other["foreground"]["mean"] is None


def test_merge_order_does_not_matter() -> None:
    """Chan's merge over any split equals numpy over the concatenation."""
    rng = np.random.default_rng(3)
    parts = [rng.standard_normal(n) * 1e3 + 1e6 for n in (1, 7, 1000, 33)]
    m = stats.Moments()
    for p in parts:
        s = stats.FileSummary("image", n=p.size, vmin=p.min(), vmax=p.max())
        s.fmean, s.fm2 = float(p.mean()), float(((p - p.mean()) ** 2).sum())
        m.add(s)
    a = np.concatenate(parts)
    n, mean, m2 = m.result()
    assert n == a.size
    assert mean == pytest.approx(a.mean(), rel=1e-14)
    assert np.sqrt(m2 / n) == pytest.approx(a.std(), rel=1e-10)


def test_empty_group_and_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "LungSegDB"
    build_mixed(root)
    (root / RAW_V2.images).mkdir(parents=True)  # present, empty
    (root / RAW_V2.masks).mkdir(parents=True)
    (root / PRE_V1.images / "9.TIF").write_bytes(b"\x89PNG\r\n\x1a\n")
    tifffile.imwrite(root / PRE_V1.masks / "9.TIF", np.ones((4, 4), np.uint8))
    assert run(["stats", "--data-dir", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by = {(g["variant"], g["version"]): g for g in doc["groups"]}
    pre = by[("preprocessed data", "V1")]
    assert pre["pairs"] == 6 and pre["unreadable"] == 1
    check_group(pre, numpy_stats(root, PRE_V1))  # the unreadable image is skipped
    empty = by[("raw data", "V2")]
    assert empty["present"] is True and empty["pairs"] == 0 and empty["intensity"]["std"] is None
    # human output says so, and points at validate
    assert run(["stats", "--data-dir", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert "unreadable" in cap.err and "lungsegdb validate" in cap.err
    assert "mean" in cap.out and "std" in cap.out


@pytest.mark.parametrize(
    ("args", "groups"),
    [
        (["--variant", "raw"], ["raw data/V1", "raw data/V2"]),
        (["--variant", "preprocessed data", "--version", "V1"], ["preprocessed data/V1"]),
        (["--version", "v2"], ["preprocessed data/V2", "raw data/V2"]),
    ],
)
def test_filters(
    tmp_path: Path,
    synth_tree: Path,
    args: list[str],
    groups: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = linked(tmp_path, synth_tree)
    assert run(["stats", "--data-dir", str(root), "--json", *args]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f"{g['variant']}/{g['version']}" for g in doc["groups"]] == groups
    assert doc["total"]["pairs"] == 3 * len(groups)


@pytest.mark.parametrize("args", [["--variant", "cooked"], ["--version", "V3"]])
def test_bad_filter_is_usage_error(
    tmp_path: Path, synth_tree: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stats", "--data-dir", str(linked(tmp_path, synth_tree)), *args]) == 2
    assert "next:" in capsys.readouterr().err


def test_csv_one_row_per_pair(tmp_path: Path) -> None:
    root = tmp_path / "LungSegDB"
    build_mixed(root)
    out = tmp_path / "out" / "pairs.csv"
    stats.compute(paths.resolve(tmp_path), csv=out, use_cache=False)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["stem"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert list(rows[0]) == list(stats.CSV_COLUMNS)
    for r in rows:
        img = tifffile.imread(root / r["image"]).astype(np.float64)
        m = tifffile.imread(root / r["mask"])
        assert float(r["min"]) == img.min() and float(r["max"]) == img.max()
        assert float(r["mean"]) == pytest.approx(img.mean(), rel=1e-12)
        assert float(r["std"]) == pytest.approx(img.std(), rel=1e-9)
        assert float(r["foreground"]) == pytest.approx((m > 0).mean())
        assert r["shape"] == "x".join(str(d) for d in img.shape) and r["error"] == ""


def test_stats_after_validate_decodes_nothing(tmp_path: Path, synth_tree: Path) -> None:
    p = paths.resolve(linked(tmp_path, synth_tree))
    assert validate.validate(p).decoded == 24
    again = stats.compute(p)
    assert (again.decoded, again.cached) == (0, 24)
    assert stats.compute(p, version="V1").decoded == 0


def test_plot_writes_a_png(tmp_path: Path, synth_tree: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "plot.png"
    root = linked(tmp_path, synth_tree)
    assert run(["stats", "--data-dir", str(root), "--plot", str(out), "--quiet"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_plot_without_matplotlib_is_usage_error(
    tmp_path: Path, synth_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real = builtins.__import__

    def fake(name: str, *a: Any, **kw: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    code = run(["stats", "--data-dir", str(linked(tmp_path, synth_tree)), "--plot", "x.png"])
    assert code == 2
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------------------------
# too-large: never decoded, and stats fails (exit 1) naming it instead of leaving it out
# ---------------------------------------------------------------------------------------------
def test_decompression_bomb_fails_stats_in_bounded_memory(tmp_path: Path) -> None:
    """The 46341^2 deflate file (372 KB) drove stats to 10.5 GB and 31 s."""
    from test_validate import RSS_BUDGET, hostile_tree, run_measured

    root = hostile_tree(tmp_path)
    rc, out, err, peak = run_measured(["stats", "--data-dir", str(root), "--json"])
    assert rc == 1, err
    doc = json.loads(out)
    assert doc["ok"] is False and doc["error"]["kind"] == "too-large"
    rel = f"{PRE_V1.images}/1.TIF"
    assert rel in doc["error"]["message"] and "46341x46341x1 uint8" in doc["error"]["message"]
    assert [f["path"] for f in doc["error"]["context"]["files"]] == [rel]
    assert peak < RSS_BUDGET, f"peak RSS {peak / 2**20:.0f} MiB"


def test_too_large_writes_no_csv_and_a_higher_limit_lets_it_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "LungSegDB"
    build_mixed(root)  # the biggest pair is 64x64 (int16 image, uint8 mask): 4,096 values
    out = tmp_path / "pairs.csv"
    monkeypatch.setenv("LUNGSEGDB_MAX_IMAGE_PIXELS", "4095")
    argv = ["stats", "--data-dir", str(tmp_path), "--json", "--csv", str(out)]
    assert run(argv) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["kind"] == "too-large" and err["code"] == 1
    assert f"{PRE_V1.images}/1.TIF declares 64x64x1 int16 = 4,096 pixel values" in err["message"]
    assert err["message"].endswith(f"; and 1 more: {PRE_V1.masks}/1.tif")
    assert err["context"]["limit"] == 4095
    assert [f["path"] for f in err["context"]["files"]] == [
        f"{PRE_V1.images}/1.TIF",
        f"{PRE_V1.masks}/1.tif",
    ]
    assert not out.exists()
    # human output: the two-line error naming the file and the variable, no traceback
    assert run(["stats", "--data-dir", str(tmp_path)]) == 1
    cap = capsys.readouterr()
    assert f"{PRE_V1.images}/1.TIF" in cap.err and "LUNGSEGDB_MAX_IMAGE_PIXELS" in cap.err
    assert "Traceback" not in cap.err and "next:" in cap.err
    with pytest.raises(stats.TooLargeImages):  # the library raises; the CLI maps it to 1
        stats.compute(paths.resolve(tmp_path), max_pixels=100)
    monkeypatch.setenv("LUNGSEGDB_MAX_IMAGE_PIXELS", "4096")
    assert run(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["groups"][0]["pairs"] == 5 and out.exists()
    check_group(doc["groups"][0], numpy_stats(root, PRE_V1))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize(
    ("sides", "unreadable"),
    [(("mask",), 1), (("image",), 1), (("image", "mask"), 2)],
)
def test_a_fifo_in_place_of_a_pair_file_is_counted_not_dropped(
    tmp_path: Path, synth_tree: Path, sides: tuple[str, ...], unreadable: int
) -> None:
    """A FIFO named like a pair file: never opened (no hang), but its pair still counts, the
    FIFO in ``unreadable`` with the reason in the CSV, and a warning. Run in a subprocess so
    that a hang fails instead of blocking the suite."""
    import shutil
    import subprocess
    import sys

    root = tmp_path / "root"
    tree_dir = Path(shutil.copytree(synth_tree, root / "LungSegDB"))
    for side in sides:
        where = tree_dir / (RAW_V1.images if side == "image" else RAW_V1.masks) / "1.TIF"
        where.unlink()
        os.mkfifo(where)
    out = tmp_path / "pairs.csv"
    args = ["stats", "--data-dir", str(root), "--json", "--csv", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "lungsegdb_cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    raw = next(g for g in doc["groups"] if (g["variant"], g["version"]) == ("raw data", "V1"))
    assert (raw["pairs"], raw["unreadable"]) == (3, unreadable)
    assert (doc["total"]["pairs"], doc["total"]["unreadable"]) == (12, unreadable)
    assert "raw data/V1: " in done.stderr and "unreadable" in done.stderr
    rows = [r for r in csv.DictReader(out.open(encoding="utf-8")) if r["variant"] == "raw data"]
    row = next(r for r in rows if r["version"] == "V1" and r["stem"] == "1")
    assert row["error"].count("not a regular file") == len(sides)
    if sides == ("mask",):  # the readable image still counts towards the intensity
        assert row["mean"] != "" and raw["intensity"]["pixels"] == 3 * 512 * 512


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_the_std_of_int16_hu_slices_is_the_correctly_rounded_exact_one(
    tmp_path: Path, seed: int
) -> None:
    """Real CT: int16 Hounsfield units, corners padded at -3024, masks 0/255. The std was the
    exact M2 rounded, divided (rounded), square-rooted (rounded): 1 ulp off in 4 of 6 such
    trees. Now it is the exact variance's root rounded once (checked with 80-digit decimals)."""
    from decimal import Decimal, localcontext
    from fractions import Fraction

    import lungsegdb_cli as L

    rng = np.random.default_rng(seed)
    folder = tmp_path / "LungSegDB" / "raw data" / "V1"
    (folder / "CT_Images").mkdir(parents=True)
    (folder / "CT_Masks").mkdir()
    s1 = s2 = n = 0
    for i in range(3):
        a = rng.integers(-1200, 3000, (48, 48)).astype(np.int16)
        a[:4, :4] = a[-4:, -4:] = -3024  # outside the scan field
        tifffile.imwrite(folder / "CT_Images" / f"{i}.TIF", a)
        tifffile.imwrite(folder / "CT_Masks" / f"{i}.TIF", ((a > 0) * 255).astype(np.uint8))
        v = a.astype(np.int64)
        s1, s2, n = s1 + int(v.sum()), s2 + int((v * v).sum()), n + v.size
    found = L.stats(tmp_path, variant="raw", version="V1", use_cache=False).groups
    got = found[0].intensity.to_dict()
    var = Fraction(n * s2 - s1 * s1, n * n)
    with localcontext() as ctx:
        ctx.prec = 80
        exact = float((Decimal(var.numerator) / Decimal(var.denominator)).sqrt())
    assert got["std"] == exact and got["mean"] == float(Fraction(s1, n))


@pytest.mark.parametrize("dtype", ["int32", "uint32", "int64", "uint64"])
def test_wide_integer_images_with_huge_values_are_exact_too(tmp_path: Path, dtype: str) -> None:
    """Values near the dtype's ends, where squares overflow one int64 sum: mean and std are
    still the exact ones rounded once (docs/stats.md), not a float approximation."""
    from decimal import Decimal, localcontext
    from fractions import Fraction

    import lungsegdb_cli as L

    info = np.iinfo(dtype)
    rng = np.random.default_rng(0)  # a seed where the float sums were 1 ulp off for all four
    folder = tmp_path / "LungSegDB" / "raw data" / "V1"
    (folder / "CT_Images").mkdir(parents=True)
    (folder / "CT_Masks").mkdir()
    values: list[int] = []
    for i in range(3):
        a = rng.integers(info.min, info.max, (64, 64), dtype=dtype, endpoint=True)
        a[0, :2] = info.min, info.max
        tifffile.imwrite(folder / "CT_Images" / f"{i}.TIF", a)
        tifffile.imwrite(folder / "CT_Masks" / f"{i}.TIF", np.full((64, 64), 255, np.uint8))
        values += [int(x) for x in a.ravel()]
    n, s1, s2 = len(values), sum(values), sum(v * v for v in values)
    got = L.stats(tmp_path, variant="raw", version="V1", use_cache=False).groups[0]
    doc = got.intensity.to_dict()
    var = Fraction(n * s2 - s1 * s1, n * n)
    with localcontext() as ctx:
        ctx.prec = 120
        exact = float((Decimal(var.numerator) / Decimal(var.denominator)).sqrt())
    assert doc["mean"] == float(Fraction(s1, n)) and doc["std"] == exact
    assert doc["min"] == info.min and doc["max"] == info.max


@settings(max_examples=300, derandomize=True, database=None)
@given(st.integers(min_value=0, max_value=10**40), st.integers(min_value=1, max_value=10**30))
def test_sqrt_ratio_is_correctly_rounded(p: int, q: int) -> None:
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 80
        assert stats.sqrt_ratio(p, q) == float((Decimal(p) / Decimal(q)).sqrt())
