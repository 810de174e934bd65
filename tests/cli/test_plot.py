"""``lungsegdb stats --plot``: CT in Hounsfield units drawn in the lung window (lungs dark),
8-bit slices scaled as before, a translucent red mask overlay (as documented), no row for a
group without pairs, ``--window``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: cli/plot's PlotResult gives each overlay's box and window (the PNG alone does not)
from lungsegdb_cli.cli import plot
from lungsegdb_cli.cli.app import run

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")
from PIL import Image
from support.ctpics import grow, lung_and_ring, sample

#: As in test_preview_ct: the whole frame's 1st-99th percentile gave 60-90 on these slices.
CONTRAST = 110
ROW_PX = 3.0 * plot.DPI  # one row of the figure, in PNG pixels


def linked(tmp_path: Path, tree: Path) -> Path:
    """A data root in tmp_path whose LungSegDB is ``tree`` (stats' decode cache goes here)."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "LungSegDB").symlink_to(tree, target_is_directory=True)
    return root


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float64)


def _crop(png: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return png[y : y + h, x : x + w]


def _sample_pair(result: Any, panel: plot.Panel) -> Any:
    group = next(g for g in result.groups if g.label == panel.group)
    return next(p for p in group.samples if p.stem == panel.stem)


def test_signed_hu_lungs_are_darker_than_the_soft_tissue_around_them(
    synth_kaggle: Any, tmp_path: Path
) -> None:
    tree = Path(synth_kaggle.tree)
    result = L.stats(linked(tmp_path, tree), variant="raw")
    drawn = plot.render(result, tmp_path / "plot.png")
    png = _png(drawn.out)
    assert len(drawn.panels) == 6
    for panel in drawn.panels:
        pair = _sample_pair(result, panel)
        # blue is what the red overlay leaves of the grey (dimmed by its opacity), everywhere
        blue = _crop(png, panel.box)[:, :, 2]
        lung, ring = lung_and_ring(
            blue, tree / pair.image.rel, tree / pair.mask.rel,
            lung_scale=1 - plot.OVERLAY_ALPHA, margin=3, ring=4,
        )  # fmt: skip
        assert lung < 110 and ring - lung >= CONTRAST, (panel.group, panel.stem, lung, ring)
        assert panel.window.legend == "lung L-600 W1500"


def test_8_bit_slices_keep_the_frame_percentiles_under_a_red_overlay(
    synth_tree: Path, tmp_path: Path
) -> None:
    result = L.stats(linked(tmp_path, synth_tree), version="V1")  # uint8 grey and int16 HU
    drawn = plot.render(result, tmp_path / "p.png")
    png = _png(drawn.out)
    assert plot.OVERLAY == (1.0, 0.0, 0.0) and 0 < plot.OVERLAY_ALPHA < 1
    seen = set()
    for panel in drawn.panels:
        pair = _sample_pair(result, panel)
        image = tifffile.imread(synth_tree / pair.image.rel)
        if image.dtype == np.uint8 and image.ndim == 2:
            lo, hi = (float(v) for v in np.percentile(image.astype(np.float32), (1, 99)))
            assert (panel.window.rule, panel.window.lo, panel.window.hi) == (
                "percentile-frame", lo, hi if hi > lo else lo + 1.0
            )  # fmt: skip
            seen.add(panel.group)
        else:  # synth's raw V1: int16 HU padded at -1024
            assert panel.window.rule == "lung"
        # the mask is translucent red over the (grey) slice, as documented; grey elsewhere
        tile = _crop(png, panel.box)
        h, w = tile.shape[:2]
        m = sample(tifffile.imread(synth_tree / pair.mask.rel) > 0, h, w)
        inside, outside = ~grow(~m, 2), ~grow(m, 3)
        red_cast = tile[:, :, 0] - tile[:, :, 1]
        assert red_cast[inside].mean() > 0.9 * 255 * plot.OVERLAY_ALPHA, panel
        assert np.abs(tile[:, :, 1] - tile[:, :, 2])[inside].max() <= 1  # not yellow
        assert np.abs(red_cast[outside]).max() <= 1
    assert seen == {"preprocessed data/V1"} and len(drawn.panels) == 6


def test_groups_without_pairs_get_no_row(synth_tree: Path, tmp_path: Path) -> None:
    tree = tmp_path / "two" / "LungSegDB"
    for group in ("preprocessed data/V2", "raw data/V1"):
        shutil.copytree(synth_tree / group, tree / group)
    result = L.stats(tree)
    assert len(result.groups) == 4  # the absent ones are there, with no pairs
    drawn = plot.render(result, tmp_path / "p.png")
    assert drawn.rows == ["preprocessed data/V2", "raw data/V1"]
    assert {p.group for p in drawn.panels} == set(drawn.rows)
    with Image.open(drawn.out) as im:
        assert im.size[1] == 2 * ROW_PX


def test_no_pairs_at_all_is_one_row_saying_so(tmp_path: Path) -> None:
    tree = tmp_path / "LungSegDB"
    (tree / "raw data" / "V1" / "CT_Images").mkdir(parents=True)
    drawn = plot.render(L.stats(tree), tmp_path / "p.png")
    assert drawn.rows == [] and drawn.panels == []
    with Image.open(drawn.out) as im:
        assert im.size[1] == ROW_PX


def test_window_option(synth_kaggle: Any, tmp_path: Path) -> None:
    tree = Path(synth_kaggle.tree)
    root = linked(tmp_path, tree)
    out = tmp_path / "m.png"
    only = ["--variant", "raw", "--version", "V2"]
    args = ["stats", "--data-dir", str(root), "--plot", str(out), "--quiet", *only]
    assert run([*args, "--window", "mediastinum"]) == 0
    result = L.stats(root, variant="raw", version="V2")
    drawn = plot.render(result, tmp_path / "again.png", window="mediastinum")
    assert np.array_equal(_png(out), _png(drawn.out))  # the command draws the same
    assert {p.window.legend for p in drawn.panels} == {"mediastinum L40 W400"}
    panel = drawn.panels[0]
    pair = _sample_pair(result, panel)
    blue = _crop(_png(out), panel.box)[:, :, 2]
    lung, _ = lung_and_ring(blue, tree / pair.image.rel, tree / pair.mask.rel, margin=3)
    assert lung < 5  # the lungs (-860 HU) are black in the mediastinum window


@pytest.mark.parametrize(
    "extra",
    [
        ["--window", "bone"],
        ["--window=-600,0"],
        ["--window", "1,2,3"],
        ["--window", "lung", "--no-plot"],  # a misspelt option: usage
    ],
)
def test_bad_window_is_exit_2_before_any_work(
    synth_tree: Path, tmp_path: Path, extra: list[str]
) -> None:
    root = linked(tmp_path, synth_tree)
    out = tmp_path / "p.png"
    code = run(["stats", "--data-dir", str(root), "--plot", str(out), *extra])
    assert code == 2
    assert not out.exists() and not (root / ".lungsegdb").exists()


def test_window_without_plot_is_exit_2(synth_tree: Path, tmp_path: Path, capsys) -> None:
    root = linked(tmp_path, synth_tree)
    assert run(["stats", "--data-dir", str(root), "--window", "lung"]) == 2
    err = capsys.readouterr().err
    assert "--window only applies" in err and len(err.strip().splitlines()) == 2
    assert "Traceback" not in err


def test_a_slice_that_changed_leaves_its_panel_empty(synth_tree: Path, tmp_path: Path) -> None:
    tree = Path(shutil.copytree(synth_tree, tmp_path / "c" / "LungSegDB"))
    result = L.stats(tree, variant="raw", version="V1")
    os.remove(tree / result.groups[0].samples[0].image.rel)
    drawn = plot.render(result, tmp_path / "p.png")
    assert [p.stem for p in drawn.panels] == [s.stem for s in result.groups[0].samples[1:]]
