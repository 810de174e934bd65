"""The dataset module: the documented tree, counts, TIFF and junk rules, name mapping."""

from __future__ import annotations

import pytest

# internals: exercises dataset directly: behaviour the public API does not expose on its own
from lungsegdb_cli.dataset import card as dataset


def test_documented_tree_is_exactly_eight_leaf_folders() -> None:
    assert dataset.LEAF_DIRS == (
        "preprocessed data/V1/CT_Images",
        "preprocessed data/V1/CT_Masks",
        "preprocessed data/V2/CT_Images",
        "preprocessed data/V2/CT_Masks",
        "raw data/V1/CT_Images",
        "raw data/V1/CT_Masks",
        "raw data/V2/CT_Images",
        "raw data/V2/CT_Masks",
    )


def test_published_counts_and_drive_source() -> None:
    assert dataset.PUBLISHED_PAIRS == {"V1": 1800, "V2": 700}
    assert dataset.DRIVE_ID in dataset.DRIVE_URL
    assert dataset.DRIVE_URL.startswith("https://drive.google.com/file/d/")


@pytest.mark.parametrize(
    ("variant", "version", "expected"),
    [
        (None, None, 4),
        ("raw data", None, 2),
        (None, "V2", 2),
        ("preprocessed data", "V1", 1),
        ("nonsense", None, 0),
    ],
)
def test_groups_filter(variant: str | None, version: str | None, expected: int) -> None:
    found = dataset.groups(variant, version)
    assert len(found) == expected
    for g in found:
        assert g.images.endswith("/CT_Images") and g.masks.endswith("/CT_Masks")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1.TIF", True),
        ("1.tif", True),
        ("scan.Tiff", True),
        ("scan.TIFF", True),
        ("scan.png", False),
        ("tif", False),
        ("archive.tif.zip", False),
    ],
)
def test_is_tiff(name: str, expected: bool) -> None:
    assert dataset.is_tiff(name) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".DS_Store", True),
        ("raw data/V1/CT_Images/.DS_Store", True),
        ("Thumbs.db", True),
        ("thumbs.DB", True),
        ("desktop.ini", True),
        ("._1.TIF", True),
        ("__MACOSX/LungSegDB/raw data/V1/CT_Images/1.TIF", True),
        ("a\\__MACOSX\\b.TIF", True),
        ("1.TIF", False),
        ("raw data/V1/CT_Images/1.TIF", False),
        ("notes.txt", False),
        ("", False),
    ],
)
def test_is_junk(path: str, expected: bool) -> None:
    assert dataset.is_junk(path) is expected


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("preprocessed data", "V1", "CT_Images"), "preprocessed data/V1/CT_Images"),
        (("Preprocessed_Data", "v2", "ct_masks"), "preprocessed data/V2/CT_Masks"),
        (("raw_data", "V1", "CT Images"), "raw data/V1/CT_Images"),
        (("Raw-Data", "V2", "masks"), "raw data/V2/CT_Masks"),
        (("RAW", "V1", "images"), "raw data/V1/CT_Images"),
        (("processed", "V1", "CT_Images"), None),
        (("raw data", "V3", "CT_Images"), None),
        (("raw data", "V1", "labels"), None),
    ],
)
def test_canonical_leaf(parts: tuple[str, str, str], expected: str | None) -> None:
    assert dataset.canonical_leaf(*parts) == expected


def test_stem_keeps_case_and_drops_only_extension() -> None:
    assert dataset.stem("Case_01.TIF") == "Case_01"
    assert dataset.stem("a.b.tiff") == "a.b"
