"""Counts read right wherever a message says one: "1 pair", "1 split entry", "1 row", never
"1 pairs", "1 groups" or "pair(s)" (issue 'Real CT, real users'). Every such message goes
through one helper, ``utils.units.counted``; tests/project/test_counts_guard.py keeps new
ones from going around it. The trees are CT-like: int16 Hounsfield units, 0/255 masks."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.ct import write_ct_tree

import lungsegdb_cli as L

# internals: the CLI's in-process entry, and the one count formatter every message uses
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.utils.units import counted


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((0, "pair"), "0 pairs"),
        ((1, "pair"), "1 pair"),
        ((2, "group"), "2 groups"),
        ((1800, "pair"), "1,800 pairs"),
        ((1, "entry", "entries"), "1 entry"),
        ((3, "entry", "entries"), "3 entries"),
    ],
)
def test_counted(args: tuple, text: str) -> None:
    assert counted(*args) == text


def _stale(tree: Path) -> str:
    (found,) = [f for f in L.validate(tree, use_cache=False).findings if f.code == "stale-splits"]
    return found.message


def test_stale_splits_say_one_pair_and_one_entry(tmp_path: Path) -> None:
    tree = write_ct_tree(tmp_path, ["1", "2", "3", "4"], variants=("raw data",))
    L.split(tree, seed=0)
    write_ct_tree(tmp_path, ["5"], variants=("raw data",))  # one pair the splits lack
    assert "1 pair of the tree is in no split" in _stale(tree)
    with pytest.raises(L.CheckFailed, match=r"does not cover 1 pair of the tree, e\.g\."):
        L.export("csv", tmp_path / "out", tree)
    for kind in ("CT_Images", "CT_Masks"):
        (tree / "raw data" / "V2" / kind / "5.TIF").unlink()
        (tree / "raw data" / "V2" / kind / "1.TIF").unlink()  # one the tree no longer has
    assert "1 split entry names a pair the tree no longer has" in _stale(tree)
    with pytest.raises(L.CheckFailed, match=r"names 1 pair the tree no longer has, e\.g\."):
        L.export("csv", tmp_path / "out", tree)


def test_a_group_by_missing_one_stem_says_one_stem(tmp_path: Path) -> None:
    tree = write_ct_tree(tmp_path, ["p1_s1", "p1_s2", "odd"], variants=("raw data",))
    with pytest.raises(L.UsageError, match=r"does not match 1 stem, e\.g\. 'odd'"):
        L.split(tree, group_by=r"^(p\d+)_", out=tmp_path / "s.json")


def test_a_preview_of_one_pair_says_one_row_one_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("PIL")
    tree = write_ct_tree(tmp_path, ["ID_0001_Z_0142"], variants=("raw data",))
    assert run(["preview", str(tmp_path / "p.png"), "--n", "1", "--data-dir", str(tree)]) == 0
    out = capsys.readouterr().out
    assert " px, 1 row, 1 pair)" in out and "1 rows" not in out and "1 pairs" not in out


def test_a_tree_of_one_differing_file_says_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = L.synth(tmp_path / "s", pairs=1)
    L.download(tmp_path / "data", archive=made.archive.path)
    (image,) = (tmp_path / "data").rglob("raw data/V1/CT_Images/*.TIF")
    data = bytearray(image.read_bytes())
    data[-1] ^= 0xFF  # one byte changed: the file differs from the manifest
    image.write_bytes(bytes(data))
    assert run(["publish", str(tmp_path / "mirror"), "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "1 file of the tree differs from the manifest" in err and "file(s)" not in err
