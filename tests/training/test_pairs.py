"""Pairs as data (issue 13): the pairing is validate's, masks load as 0/1, the dataset and the
``lungsegdb pairs`` command."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: exercises cli/app, dataset, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import tree as _tree


def write_tree(root: Path, stems: dict[str, list[str]], mask_values: tuple[int, int] = (0, 255)):
    """A LungSegDB folder under ``root``: for each ``variant/version`` the given stems, 6x5
    uint16 images and uint8 masks holding ``mask_values`` (background, foreground)."""
    tree = root / "LungSegDB"
    for label, names in stems.items():
        for kind in ("CT_Images", "CT_Masks"):
            (tree / label / kind).mkdir(parents=True, exist_ok=True)
        for i, stem in enumerate(names):
            img = np.arange(30, dtype=np.uint16).reshape(6, 5) + i
            mask = np.full((6, 5), mask_values[0], dtype=np.uint8)
            mask[1:4, 1:3] = mask_values[1]
            tifffile.imwrite(tree / label / "CT_Images" / f"{stem}.TIF", img)
            tifffile.imwrite(tree / label / "CT_Masks" / f"{stem}.TIF", mask)
    return tree


def _tree_pairs(tree: Path) -> list[tuple[str, str, str, str, str]]:
    return [
        (gs.group.variant, gs.group.version, p.stem, p.image.rel, p.mask.rel)
        for gs in _tree.scan(tree).groups
        for p in gs.pairs
    ]


@pytest.mark.parametrize("fixture", ["synth_result", "synth_defects"])
def test_pairs_are_the_pairs_validate_checks(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # a copy: validate writes its decode cache beside the tree
    source = Path(request.getfixturevalue(fixture).tree)
    tree = Path(shutil.copytree(source, tmp_path / "LungSegDB", symlinks=True))
    found = L.pairs(tree)
    got = [
        (
            p.variant,
            p.version,
            p.stem,
            p.image.relative_to(tree).as_posix(),
            p.mask.relative_to(tree).as_posix(),
        )
        for p in found
    ]
    assert got == _tree_pairs(tree)
    assert len(found) == L.validate(tree).pairs
    assert all(p.split is None and p.group == p.stem for p in found)


@pytest.mark.parametrize(
    ("variant", "version", "count"),
    [(None, None, 12), ("raw", None, 6), ("preprocessed", "V2", 3), (None, "v1", 6)],
)
def test_pairs_filters(synth_tree: Path, variant: str | None, version: str | None, count: int):
    found = L.pairs(synth_tree, variant=variant, version=version)
    assert len(found) == count
    assert [p.stem for p in found[:3]] == ["1", "2", "3"]  # natural order within a group


def test_a_pair_is_frozen(synth_tree: Path) -> None:
    pair = L.pairs(synth_tree)[0]
    with pytest.raises(AttributeError):
        pair.stem = "x"  # type: ignore[misc]
    assert isinstance(pair, L.Pair)


@pytest.mark.parametrize("values", [(0, 255), (0, 1), (0, 7), (3, 0)])
def test_load_pair_gives_a_0_1_uint8_mask(tmp_path: Path, values: tuple[int, int]) -> None:
    tree = write_tree(tmp_path, {"raw data/V1": ["a1"]}, mask_values=values)
    (pair,) = L.pairs(tree)
    image, mask = L.load_pair(pair)
    assert image.dtype == np.uint16 and image.shape == (6, 5)
    assert mask.dtype == np.uint8 and mask.shape == (6, 5)
    expected = np.zeros((6, 5), dtype=np.uint8) if values[0] == 0 else np.ones((6, 5), np.uint8)
    expected[1:4, 1:3] = 1 if values[1] else 0
    assert np.array_equal(mask, expected)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_load_pair_refuses_an_image_over_the_decode_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    tree = write_tree(tmp_path, {"raw data/V1": ["big"]})
    (pair,) = L.pairs(tree)
    kwargs: dict[str, Any] = {}
    if how == "argument":
        kwargs["max_pixels"] = 10
    else:
        monkeypatch.setenv("LUNGSEGDB_MAX_IMAGE_PIXELS", "10")
    with pytest.raises(L.CheckFailed, match="too large") as info:
        L.load_pair(pair, **kwargs)
    assert str(pair.image) in info.value.message
    assert info.value.exit_code == 1


def test_load_pair_of_an_undecodable_file_is_a_check_failure(tmp_path: Path) -> None:
    tree = write_tree(tmp_path, {"raw data/V1": ["1"]})
    (pair,) = L.pairs(tree)
    pair.mask.write_bytes(b"II*\x00garbage")
    with pytest.raises(L.CheckFailed, match="Cannot decode"):
        L.load_pair(pair)


@pytest.mark.parametrize(
    ("mask_shape", "ok"),
    [((6, 5), True), ((6, 5, 3), True), ((3, 5), False), ((6, 4), False), ((5, 6), False)],
    ids=["same", "rgb-same", "half-height", "narrower", "transposed"],
)
def test_a_mask_not_of_its_images_size_is_refused_as_the_exports_refuse_it(
    tmp_path: Path, mask_shape: tuple[int, ...], ok: bool
) -> None:
    """int16 HU image (padding far below air), a 0/255 mask of another height x width: the
    loader and the dataset raise CheckFailed naming the pair, as every export does."""
    tree = write_tree(tmp_path, {"raw data/V1": ["1"]})
    hu = np.full((6, 5), -3024, dtype=np.int16)
    hu[1:5, 1:4] = [[-900, -850, 40], [-860, -870, 60], [30, 1200, 2900], [-1000, -950, 20]]
    (pair,) = L.pairs(tree)
    tifffile.imwrite(pair.image, hu)
    tifffile.imwrite(pair.mask, np.full(mask_shape, 255, dtype=np.uint8))
    ds = L.PairDataset(tmp_path, variant="raw")
    if ok:
        image, mask = L.load_pair(pair)
        assert np.array_equal(image, hu) and mask.shape == (6, 5) and mask.min() == 1
        assert ds[0]["mask"].shape == (6, 5)
        return
    for load in (lambda: L.load_pair(pair), lambda: ds[0]):
        with pytest.raises(L.CheckFailed, match="shape-mismatch") as info:
            load()
        assert info.value.exit_code == 1 and str(pair.mask) in info.value.message


def test_pair_dataset_len_getitem_and_transform(synth_tree: Path) -> None:
    ds = L.PairDataset(synth_tree, variant="all")
    assert len(ds) == 12
    item = ds[4]
    assert set(item) == {"image", "mask", "stem", "variant", "version", "group"}
    assert (item["stem"], item["variant"], item["version"]) == ("2", "preprocessed data", "V2")
    assert item["mask"].dtype == np.uint8 and set(np.unique(item["mask"])) <= {0, 1}
    shaped = L.PairDataset(
        synth_tree, transform=lambda s: (s["stem"], int(s["mask"].sum())), variant="all"
    )
    assert len(shaped) == 12
    assert shaped[4] == ("2", int(item["mask"].sum()))
    assert [shaped[i][0] for i in range(3)] == ["1", "2", "3"]


def test_pair_dataset_imports_no_torch(synth_tree: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, lungsegdb_cli as L; ds = L.PairDataset(sys.argv[1], variant='raw'); ds[0]; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(synth_tree)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_split_without_splits_is_a_usage_error(synth_tree: Path) -> None:
    with pytest.raises(L.UsageError, match="no splits"):
        L.pairs(synth_tree, split="train")
    with pytest.raises(L.UsageError, match="Unknown split"):
        L.pairs(synth_tree, split="holdout")


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------
def test_pairs_json_has_ok_schema_and_every_pair(synth_tree: Path, capsys) -> None:
    assert run(["pairs", "--data-dir", str(synth_tree), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["schema"] == 1
    assert doc["count"] == len(doc["pairs"]) == 12
    assert doc["groups"]["raw data/V2"] == 3
    assert set(doc["pairs"][0]) == {"stem", "image", "mask", "variant", "version", "group", "split"}


def test_pairs_csv_one_row_per_pair(synth_tree: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "pairs.csv"
    argv = ["pairs", "--data-dir", str(synth_tree), "--version", "V1", "--csv", str(out)]
    assert run(argv) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6
    assert rows[0]["stem"] == "1" and rows[0]["split"] == "" and rows[0]["version"] == "V1"
    human = capsys.readouterr().out
    assert "6 pairs" in human and "preprocessed data/V1: 3 pairs" in human


def test_pairs_human_lists_counts_and_the_first_pairs(synth_tree: Path, capsys) -> None:
    assert run(["pairs", "--data-dir", str(synth_tree)]) == 0
    text = capsys.readouterr().out
    for label in ("preprocessed data/V1", "preprocessed data/V2", "raw data/V1", "raw data/V2"):
        assert f"{label}: 3 pairs" in text
    assert "and 7 more" in text


@pytest.mark.parametrize(
    "argv",
    [["--variant", "cooked"], ["--version", "V9"], ["--split", "train"], ["--split", "x"]],
)
def test_pairs_bad_options_exit_2(synth_tree: Path, argv: list[str], capsys) -> None:
    assert run(["pairs", "--data-dir", str(synth_tree), "--json", *argv]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["schema"] == 1 and doc["error"]["kind"] == "usage"


def test_pairs_with_no_tree_exit_1(tmp_path: Path) -> None:
    assert run(["pairs", "--data-dir", str(tmp_path)]) == 1


def test_pair_dataset_of_two_variants_must_be_asked_for(synth_tree: Path) -> None:
    """Both variants in the tree: no silent mixed dataset (each slice twice, windowed uint8
    and raw Hounsfield units); one variant gives each slice once; "all" is the mixed one."""
    with pytest.raises(L.UsageError, match="both variants") as refused:
        L.PairDataset(synth_tree, split=None)
    assert "preprocessed data" in refused.value.message and "raw data" in refused.value.message
    assert refused.value.exit_code == 2
    raw = L.PairDataset(synth_tree, variant="raw data")
    short = L.PairDataset(synth_tree, variant="raw")
    slices = [(p.version, p.stem) for p in raw.pairs]
    assert len(slices) == len(set(slices)) == 6 == len(short)
    assert {p.variant for p in raw.pairs} == {"raw data"}
    assert len(L.PairDataset(synth_tree, variant="all")) == 12
    v2 = L.PairDataset(synth_tree, variant="preprocessed", version="V2")
    assert {(p.variant, p.version) for p in v2.pairs} == {("preprocessed data", "V2")}
    assert v2[0]["group"] == v2.pairs[0].group


def test_a_dataset_of_a_variant_the_tree_lacks_is_refused_not_empty(tmp_path: Path) -> None:
    """A training loop over zero samples fails silently: a variant the tree has no pair of is
    a UsageError naming what the tree holds (as export refuses it); a filter that leaves a
    held variant empty (a version with no pair) is an empty dataset, as asked."""
    write_tree(tmp_path, {"preprocessed data/V1": ["1", "2"]})
    with pytest.raises(L.UsageError, match="holds only 'preprocessed data'") as info:
        L.PairDataset(tmp_path, variant="raw")
    assert info.value.exit_code == 2
    assert len(L.PairDataset(tmp_path, variant="preprocessed")) == 2
    assert len(L.PairDataset(tmp_path, variant="preprocessed", version="V2")) == 0
