"""``lungsegdb preview`` on CT as it really arrives (signed int16 HU, corners padded far below
air): the lungs are drawn dark, in the lung window; 8-bit pictures are unchanged; ``--window``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: runs the CLI in-process (cli/app); montage's tile drawing on hand-made HU arrays
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.training import montage

pytest.importorskip("PIL")
from PIL import Image
from support.ctpics import lung_and_ring, sample

#: How much darker (of 255 grey levels) the lungs must be than the soft tissue around them.
#: The 1st-99th percentile of the whole frame gave 60-90 on these slices (lungs ~138).
CONTRAST = 110


def _tiles(result: Any, variant: str) -> list[Any]:
    return [t for r in result.rows if r.variant == variant for t in r.tiles]


def _grey(png: Path, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return np.asarray(Image.open(png).convert("RGB"))[y : y + h, x : x + w, 1]


def test_signed_hu_lungs_are_darker_than_the_soft_tissue_around_them(
    synth_kaggle: Any, tmp_path: Path
) -> None:
    tree = Path(synth_kaggle.tree)
    out = tmp_path / "p.png"
    assert run(["preview", str(out), "--n", "3", "--data-dir", str(tree), "--quiet"]) == 0
    result = L.preview(tmp_path / "again.png", tree, n=3)
    assert out.read_bytes() == Path(result.out).read_bytes()
    tiles = _tiles(result, "raw data")
    assert len(tiles) == 6
    for t in tiles:
        assert t.box is not None and t.window is not None
        lung, ring = lung_and_ring(_grey(out, t.box), tree / t.image, tree / t.mask)
        assert lung < 110 and ring - lung >= CONTRAST, (t.version, t.stem, lung, ring)
        assert t.window.legend == "lung L-600 W1500"
    rows = {r.label: r for r in result.rows}
    assert rows["raw data/V1"].windows == ["lung L-600 W1500"]
    assert rows["preprocessed data/V1"].windows == ["1-99% of frame"]


def _old_rule_tile(image: np.ndarray, mask: np.ndarray, th: int, tw: int) -> np.ndarray:
    """The picture before display windows: nearest sampling to the tile, then the tile's own
    1st-99th percentile, then the outline. RGB uint8 as stored."""
    small = sample(image, th, tw)
    if small.ndim == 3:
        rgb = small[:, :, :3].copy()
    else:
        f = small.astype(np.float32)
        lo, hi = (float(v) for v in np.percentile(f, (1, 99)))
        hi = hi if hi > lo else lo + 1.0
        g = np.clip((f - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        rgb = np.repeat(g[:, :, None], 3, axis=2)
    m = sample(mask != 0, th, tw)
    p = np.pad(m, 1)
    edge = m & ~(p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:])
    rgb[edge] = montage.OUTLINE
    return rgb


@pytest.mark.parametrize("window", [None, "lung", "mediastinum", "-600,1500"])
def test_8_bit_and_rgb_slices_are_drawn_exactly_as_before(
    synth_tree: Path, tmp_path: Path, window: str | None
) -> None:
    """synth's preprocessed V1 (uint8 grey) and both V2 groups (RGB uint8): pixel for pixel
    the old scaling rule, whatever --window says."""
    result = L.preview(tmp_path / "p.png", synth_tree, n=3, window=window)
    png = np.asarray(Image.open(result.out).convert("RGB"))
    checked = 0
    for row in result.rows:
        for t in row.tiles:
            image = tifffile.imread(synth_tree / t.image)
            if image.dtype != np.uint8:
                continue
            x, y, w, h = t.box
            want = _old_rule_tile(image, tifffile.imread(synth_tree / t.mask), h, w)
            assert np.array_equal(png[y : y + h, x : x + w], want), (t.variant, t.version, t.stem)
            checked += 1
    assert checked == 9


def test_a_fixed_window_is_used_and_named(synth_kaggle: Any, tmp_path: Path, capsys) -> None:
    tree = Path(synth_kaggle.tree)
    out = tmp_path / "m.png"
    code = run(["preview", str(out), "--n", "1", "--window", "mediastinum", "--data-dir",
                str(tree), "--json"])  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["window"] == "mediastinum"
    rows = {f"{r['variant']}/{r['version']}": r for r in doc["rows"]}
    assert rows["raw data/V2"]["windows"] == ["mediastinum L40 W400"]
    assert rows["preprocessed data/V2"]["windows"] == ["1-99% of frame"]
    tile = rows["raw data/V2"]["tiles"][0]
    assert tile["window"] == {"rule": "mediastinum", "lo": -160.0, "hi": 240.0,
                              "legend": "mediastinum L40 W400"}  # fmt: skip
    # in the mediastinum window the lungs (-860 HU) are black
    lung, _ = lung_and_ring(_grey(out, tile["box"]), tree / tile["image"], tree / tile["mask"])
    assert lung < 5
    code = run(["preview", str(tmp_path / "c.png"), "--window=-600,1500", "--data-dir",
                str(tree), "--n", "1"])  # fmt: skip
    assert code == 0
    assert "window L-600 W1500" in capsys.readouterr().out


def test_scanner_values_with_zero_padding_use_percentiles_of_the_body(tmp_path: Path) -> None:
    """uint16 scanner values (HU + 3000) with the corners padded at 0: not HU, so the window
    comes from the body's percentiles, not the frame's (whose black point is the padding)."""
    src = Path(L.synth(tmp_path / "k", pairs=1, fmt="none", like_kaggle=True).tree)
    tree = tmp_path / "u16" / "LungSegDB"
    group = "raw data/V1"
    shutil.copytree(src / group, tree / group)
    image = tree / group / "CT_Images" / "1.TIF"
    hu = tifffile.imread(image)
    scanner = np.where(hu == hu[0, 0], 0, hu.astype(np.int32) + 3000).astype(np.uint16)
    os.remove(image)
    tifffile.imwrite(image, scanner)
    result = L.preview(tmp_path / "p.png", tree, n=1)
    [tile] = result.rows[0].tiles
    assert tile.window is not None and tile.window.rule == "percentile-body"
    hu_file = src / group / "CT_Images" / "1.TIF"
    lung, ring = lung_and_ring(_grey(Path(result.out), tile.box), hu_file, tree / tile.mask)
    assert ring - lung >= CONTRAST, (lung, ring)


@pytest.mark.parametrize("value", ["bone", "-600", "-600,0", "1,2,3", "nan,5", ""])
def test_bad_window_values_are_exit_2(synth_tree: Path, tmp_path: Path, value: str) -> None:
    out = tmp_path / "p.png"
    code = run(["preview", str(out), f"--window={value}", "--data-dir", str(synth_tree)])
    assert code == 2
    assert not out.exists()
    with pytest.raises(L.UsageError):
        L.preview(out, synth_tree, window=value)
