"""treemap: where the documented tree sits in an archive, and what each member becomes."""

from __future__ import annotations

import pytest

# internals: exercises archive, dataset, ... directly (not public API)
from lungsegdb_cli.archive import treemap
from lungsegdb_cli.dataset import card as dataset


@pytest.mark.parametrize(
    ("name", "dest"),
    [
        ("raw data/V1/CT_Images/1.TIF", "raw data/V1/CT_Images/1.TIF"),
        ("LungSegDB/raw data/V2/CT_Masks/a.tif", "raw data/V2/CT_Masks/a.tif"),
        (
            "x/y/LungSegDB/preprocessed data/V1/CT_Images/b.tiff",
            "preprocessed data/V1/CT_Images/b.tiff",
        ),
        ("Preprocessed_Data/v2/ct_masks/c.TIF", "preprocessed data/V2/CT_Masks/c.TIF"),
        ("RAW-DATA/V1/CT Images/d.TIF", "raw data/V1/CT_Images/d.TIF"),
        ("LungSegDB\\raw data\\V1\\CT_Images\\e.TIF", "raw data/V1/CT_Images/e.TIF"),
        ("./raw data/V1/CT_Images/f.TIF", "raw data/V1/CT_Images/f.TIF"),
    ],
)
def test_tree_members_map_onto_documented_names(name, dest):
    m = treemap.TreeMapper()
    assert m.decide(name) == dest


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("README.txt", treemap.OUTSIDE_TREE),
        ("LungSegDB/raw data/V1/notes.TIF", treemap.OUTSIDE_TREE),
        ("raw data/V1/CT_Images/sub/deeper.TIF", treemap.OUTSIDE_TREE),
        ("raw data/V3/CT_Images/x.TIF", treemap.OUTSIDE_TREE),
        ("raw data/V1/CT_Images/x.png", treemap.NOT_TIFF),
    ],
)
def test_other_files_are_skipped_with_a_reason(name, reason):
    m = treemap.TreeMapper()
    assert m.decide(name) is None
    assert m.skipped == [{"path": name, "reason": reason}]
    assert m.skipped_count == 1


@pytest.mark.parametrize(
    "name",
    [
        "__MACOSX/raw data/V1/CT_Images/._1.TIF",
        "raw data/V1/CT_Images/._1.TIF",
        "a/.DS_Store",
        "raw data/V1/CT_Masks/Thumbs.db",
        "desktop.ini",
    ],
)
def test_os_junk_is_counted_not_listed(name):
    m = treemap.TreeMapper()
    assert m.decide(name) is None
    assert m.junk == 1 and m.skipped == [] and m.top_level() in ([], ["a/"])


def test_second_copy_of_a_leaf_and_duplicate_names_are_skipped():
    m = treemap.TreeMapper()
    assert m.decide("A/raw data/V1/CT_Images/1.TIF") == "raw data/V1/CT_Images/1.TIF"
    assert m.decide("B/raw data/V1/CT_Images/2.TIF") is None
    assert m.decide("A/raw data/V1/CT_Images/1.TIF") is None
    assert [s["reason"] for s in m.skipped] == [treemap.DUPLICATE_TREE, treemap.DUPLICATE]
    assert m.mapped == {"A/raw data/V1/CT_Images": "raw data/V1/CT_Images"}
    assert m.files == 1


def test_missing_leaves_and_top_level_listing():
    m = treemap.TreeMapper()
    m.decide("top/", is_dir=True)
    m.decide("top/raw data/V1/CT_Images/1.TIF")
    m.decide("notes.txt")
    m.decide("__MACOSX/", is_dir=True)
    assert m.leaves() == ["raw data/V1/CT_Images"]
    assert m.missing() == [leaf for leaf in dataset.LEAF_DIRS if leaf != "raw data/V1/CT_Images"]
    assert m.top_level() == ["notes.txt", "top/"]


def test_skipped_listing_is_capped_but_counted(monkeypatch):
    monkeypatch.setattr(treemap, "MAX_LISTED", 3)
    m = treemap.TreeMapper()
    for i in range(10):
        m.decide(f"extra/{i}.txt")
    assert len(m.skipped) == 3 and m.skipped_count == 10


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("LungSegDB/raw data/V1/CT_Images/1.TIF", False),
        ("a..b/c..TIF", False),
        ("../x", True),
        ("a/../../x", True),
        ("a\\..\\x", True),
        ("/etc/passwd", True),
        ("\\server\\share", True),
        ("C:/Windows/x", True),
        ("c:x", True),
        ("a\x00b", True),
    ],
)
def test_unsafe_reason(name, unsafe):
    assert (treemap.unsafe_reason(name) is not None) is unsafe
