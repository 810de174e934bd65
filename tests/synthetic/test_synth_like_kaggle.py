"""``lungsegdb synth --like-kaggle``: images the way real CT slices arrive (signed int16 HU,
round scan field, corners padded far below air; the preprocessed copy windowed uint8)."""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: runs the CLI in-process (cli/app); the phantom's padding and window constants
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.synthetic import make as synth
from lungsegdb_cli.synthetic import phantom
from lungsegdb_cli.synthetic.phantom import KAGGLE_PADDING, PRE_WINDOW, window


def _corner_values(image: np.ndarray) -> set[int]:
    return {int(image[0, 0]), int(image[0, -1]), int(image[-1, 0]), int(image[-1, -1])}


def test_raw_slices_are_signed_hu_with_padded_corners(synth_kaggle: Any) -> None:
    tree = Path(synth_kaggle.tree)
    pads = set()
    for version in dataset.VERSIONS:
        group = dataset.Group("raw data", version)
        for stem in ("1", "2", "3"):
            image = tifffile.imread(tree / group.images / f"{stem}.TIF")
            mask = tifffile.imread(tree / group.masks / f"{stem}.TIF")
            assert image.dtype == np.int16 and image.shape == (512, 512)
            assert mask.dtype == np.uint8 and mask.shape == (512, 512)
            assert set(np.unique(mask).tolist()) == {0, 255}
            corners = _corner_values(image)
            assert len(corners) == 1 and corners <= set(KAGGLE_PADDING)
            pads |= corners
            pad = corners.pop()
            # the padding is only outside the round scan field: the centre row is inside
            # from its second pixel on, and air (about -1000 HU) surrounds the body
            assert image[256, 2] != pad and -1100 < image[256, 2] < -900
            assert image.min() == pad and image.max() >= 2500  # a metal marker on the skin
            lungs = image[mask > 0]
            assert -950 < float(np.median(lungs)) < -750  # lung parenchyma
            assert not (image[mask > 0] == pad).any()
    assert pads == set(KAGGLE_PADDING)  # both paddings occur


def test_preprocessed_slices_are_the_windowed_uint8_copy(synth_kaggle: Any) -> None:
    tree = Path(synth_kaggle.tree)
    for version in dataset.VERSIONS:
        raw, pre = dataset.Group("raw data", version), dataset.Group("preprocessed data", version)
        image = tifffile.imread(tree / pre.images / "2.TIF")
        hu = tifffile.imread(tree / raw.images / "2.TIF")
        assert image.dtype == np.uint8 and image.ndim == 2
        # the raw slice is the rounded HU the copy was windowed from: within one grey level
        assert np.abs(image.astype(int) - window(hu.astype(np.float32), *PRE_WINDOW)).max() <= 1
        same = tifffile.imread(tree / pre.masks / "2.TIF")
        assert np.array_equal(same, tifffile.imread(tree / raw.masks / "2.TIF"))


def test_same_seed_same_bytes_and_the_default_is_unchanged(tmp_path: Path) -> None:
    a = synth.synthesize(tmp_path / "a", pairs=1, seed=4, fmt="zip", like_kaggle=True)
    b = synth.synthesize(tmp_path / "b", pairs=1, seed=4, fmt="zip", like_kaggle=True)
    plain = synth.synthesize(tmp_path / "c", pairs=1, seed=4, fmt="zip")
    assert a.archive and b.archive and plain.archive
    assert a.archive.sha256 == b.archive.sha256 != plain.archive.sha256
    assert a.to_dict()["like_kaggle"] is True and plain.to_dict()["like_kaggle"] is False
    # the default mode still writes its mix: RGB V2, int16 raw V1 padded at -1024
    v2 = tifffile.imread(plain.tree / "raw data" / "V2" / "CT_Images" / "1.TIF")
    v1 = tifffile.imread(plain.tree / "raw data" / "V1" / "CT_Images" / "1.TIF")
    assert v2.ndim == 3 and v1.dtype == np.int16 and int(v1[0, 0]) == -1024


def test_the_cli_flag_and_the_api_argument(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli"
    code = run(["synth", str(out), "--pairs", "1", "--format", "none", "--like-kaggle", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["like_kaggle"] is True
    api = L.synth(tmp_path / "api", pairs=1, fmt="none", like_kaggle=True)
    for rel in ("raw data/V1/CT_Images/1.TIF", "preprocessed data/V2/CT_Images/1.TIF"):
        assert (out / "LungSegDB" / rel).read_bytes() == (api.tree / rel).read_bytes()
    assert json.loads((out / "synth.json").read_text())["like_kaggle"] is True


def test_defects_are_drawn_like_kaggle_too_and_validate_finds_them(tmp_path: Path) -> None:
    made = synth.synthesize(tmp_path / "d", pairs=1, fmt="none", defects=True, like_kaggle=True)
    report = L.validate(made.tree)
    found = {(f.code, f.path) for f in report.findings}
    for d in made.defects:
        if d.code != "junk":
            assert (d.code, d.path) in found, d
    # a defect's pair is int16 HU like the clean ones (empty-mask keeps its image intact)
    empty = next(d for d in made.defects if d.code == "empty-mask")
    image = tifffile.imread(made.tree / empty.group / "CT_Images" / f"{empty.stem}.TIF")
    assert image.dtype == np.int16 and image.min() in KAGGLE_PADDING


def test_the_docstring_example_runs() -> None:
    """``render_like_kaggle``'s example: the format, from one call, no file written."""
    assert doctest.testmod(phantom, optionflags=doctest.ELLIPSIS).failed == 0
