"""tree: walk a LungSegDB folder, pair by stem, report duplicates, junk and strays."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# internals: exercises dataset, dataset/card, ... directly (not public API)
from lungsegdb_cli.dataset import paths, tree
from lungsegdb_cli.dataset.card import GROUPS, Group
from lungsegdb_cli.errors import CheckFailed

G = Group("preprocessed data", "V1")


def make(root: Path, files: dict[str, bytes | None]) -> Path:
    """Create ``files`` under ``root`` (None = a folder); returns root."""
    for rel, data in files.items():
        p = root / rel
        if data is None:
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    return root


def group_scan(root: Path, group: Group = G) -> tree.GroupScan:
    return next(g for g in tree.scan(root).groups if g.group == group)


@pytest.mark.parametrize(
    ("images", "masks", "pairs", "lone_images", "lone_masks"),
    [
        (["a.TIF", "b.tif", "c.tiff"], ["a.tif", "b.TIFF", "c.TIF"], ["a", "b", "c"], [], []),
        # sorted lists zipped would pair 2 with 10: pairing by stem must not
        (["1.TIF", "2.TIF", "10.TIF"], ["1.TIF", "10.TIF"], ["1", "10"], ["2.TIF"], []),
        (["1.TIF"], ["1.TIF", "3.tif"], ["1"], [], ["3.tif"]),
        ([], ["x.TIF"], [], [], ["x.TIF"]),
    ],
)
def test_pairing(
    tmp_path: Path,
    images: list[str],
    masks: list[str],
    pairs: list[str],
    lone_images: list[str],
    lone_masks: list[str],
) -> None:
    files: dict[str, bytes | None] = {f"{G.images}/{n}": b"i" for n in images}
    files |= {f"{G.masks}/{n}": b"m" for n in masks}
    files[G.images] = None
    gs = group_scan(make(tmp_path, files))
    assert sorted(p.stem for p in gs.pairs) == sorted(pairs)
    for p in gs.pairs:
        assert tree.dataset.stem(p.image.name) == tree.dataset.stem(p.mask.name) == p.stem
        assert p.image.rel.startswith(G.images + "/") and p.mask.rel.startswith(G.masks + "/")
    assert [f.name for f in gs.lone_images] == lone_images
    assert [f.name for f in gs.lone_masks] == lone_masks


def test_duplicate_stem_keeps_the_first_name_and_reports_the_other(tmp_path: Path) -> None:
    gs = group_scan(
        make(
            tmp_path,
            {
                f"{G.images}/7.TIF": b"a",
                f"{G.images}/7.tif": b"b",
                f"{G.masks}/7.TIF": b"c",
            },
        )
    )
    assert [(p.image.name, p.mask.name) for p in gs.pairs] == [("7.TIF", "7.TIF")]
    assert [(d.rel, first.name) for d, first in gs.duplicates] == [(f"{G.images}/7.tif", "7.TIF")]
    # every TIFF is decoded once, the duplicate as an image
    assert sorted(f.rel for f, _ in gs.jobs()) == sorted(
        [f"{G.images}/7.TIF", f"{G.images}/7.tif", f"{G.masks}/7.TIF"]
    )
    assert dict((f.rel, k) for f, k in gs.jobs())[f"{G.images}/7.tif"] == "image"


def test_junk_is_ignored_and_strays_are_unexpected(tmp_path: Path) -> None:
    gs = group_scan(
        make(
            tmp_path,
            {
                f"{G.images}/1.TIF": b"i",
                f"{G.masks}/1.TIF": b"m",
                f"{G.images}/.DS_Store": b"x",
                f"{G.images}/._1.TIF": b"x",
                f"{G.masks}/Thumbs.db": b"x",
                f"{G.masks}/desktop.ini": b"x",
                f"{G.images}/__MACOSX/._1.TIF": b"x",
                f"{G.images}/notes.txt": b"hello",
                f"{G.masks}/1.png": b"png",
                f"{G.masks}/extra": None,
            },
        )
    )
    assert [p.stem for p in gs.pairs] == ["1"]
    assert sorted(f.rel for f in gs.unexpected) == sorted(
        [f"{G.images}/notes.txt", f"{G.masks}/1.png", f"{G.masks}/extra/"]
    )
    assert not gs.lone_images and not gs.lone_masks and not gs.duplicates


def test_folder_name_variants_are_recognised(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "Preprocessed_Data/v1/ct_images/1.TIF": b"i",
            "Preprocessed_Data/v1/CT Masks/1.tif": b"m",
            "RAW DATA/V2/Images/5.tif": b"i",
            "RAW DATA/V2/Masks/5.tif": b"m",
            "something else/V1/CT_Images/9.TIF": b"i",
        },
    )
    scan = tree.scan(root)
    by = {g.group.label: g for g in scan.groups}
    pre = by["preprocessed data/V1"]
    assert [p.image.rel for p in pre.pairs] == ["Preprocessed_Data/v1/ct_images/1.TIF"]
    assert pre.label == "Preprocessed_Data/v1"
    assert [p.stem for p in by["raw data/V2"].pairs] == ["5"]
    assert not by["raw data/V1"].present and by["raw data/V1"].label == "raw data/V1"


def test_natural_order_of_pairs(tmp_path: Path) -> None:
    names = ["10.TIF", "2.TIF", "1.TIF"]
    files: dict[str, bytes | None] = {f"{G.images}/{n}": b"i" for n in names}
    files |= {f"{G.masks}/{n}": b"m" for n in names}
    gs = group_scan(make(tmp_path, files))
    assert [p.stem for p in gs.pairs] == ["1", "2", "10"]


def test_groups_filter_and_absent_groups(tmp_path: Path) -> None:
    make(tmp_path, {f"{G.images}/1.TIF": b"i"})
    scan = tree.scan(tmp_path, (G,))
    assert [g.group for g in scan.groups] == [G]
    assert len(tree.scan(tmp_path).groups) == len(GROUPS)


@pytest.mark.parametrize("layout", ["empty", "no-leaf", "file"])
def test_no_tree_is_check_failed(tmp_path: Path, layout: str) -> None:
    if layout == "no-leaf":
        (tmp_path / "LungSegDB" / "preprocessed data").mkdir(parents=True)
    elif layout == "file":
        (tmp_path / "LungSegDB").write_text("not a folder")
    with pytest.raises(CheckFailed) as exc:
        tree.iter_required(paths.resolve(tmp_path))  # raises before the first group
    assert "No LungSegDB tree" in exc.value.message
    assert "download" in exc.value.hint


@pytest.mark.parametrize(
    "name",
    [
        "1.TIF",
        "a.b.tiff",
        "x.Tif",
        ".DS_Store",
        "._1.TIF",
        "Thumbs.db",
        "DESKTOP.INI",
        "__MACOSX",
        "notes.txt",
        ".tif",
        "noext",
        "..TIF",
        "a.tif.png",
        "a..tif",
        "...tif",
        "x.",
    ],
)
def test_fast_name_checks_agree_with_dataset(name: str) -> None:
    assert tree.dataset.is_junk_name(name) == tree.dataset.is_junk(name)
    assert tree._is_tiff_name(name) == tree.dataset.is_tiff(name)
    assert tree._stem(name) == tree.dataset.stem(name)


# ---------------------------------------------------------------------------------------------
# Hostile trees: symlinks are resolved without leaving the tree; FIFOs are set aside
# ---------------------------------------------------------------------------------------------
def _link_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A tree with symlinks of every kind under ``d/`` and an ``outside`` folder next to it."""
    ds = make(tmp_path / "LungSegDB", {"d/f": b"file", "d/sub/g": b"g"})
    outside = make(tmp_path / "outside", {"secret": b"s"})
    d = ds / "d"
    links = {
        "rel-in": "f",
        "abs-in": str(ds / "d" / "f"),
        "up-and-back": "../d/sub/../f",
        "dir-in": "sub",
        "via-dir": "dir-in/g",
        "rel-out": "../../outside/secret",
        "abs-out": str(outside / "secret"),
        "out-and-back": "../../outside/../LungSegDB/d/f",  # passes outside: refused
        "dangling": "nope",
        "loop-a": "loop-b",
        "loop-b": "loop-a",
        "file-as-dir": "f/x",
    }
    for name, target in links.items():
        (d / name).symlink_to(target)
    return ds, outside


RESOLVE = [
    ("d/rel-in", "d/f"),
    ("d/abs-in", "d/f"),
    ("d/up-and-back", "d/f"),
    ("d/dir-in", "d/sub"),
    ("d/via-dir", "d/sub/g"),
    ("d/dir-in/../f", "d/f"),  # '..' after a symlinked folder: from its target, as POSIX does
    ("d/rel-out", tree.OUTSIDE),
    ("d/abs-out", tree.OUTSIDE),
    ("d/out-and-back", tree.OUTSIDE),
    ("..", tree.OUTSIDE),
    ("d/../..", tree.OUTSIDE),
    ("d/dangling", None),
    ("d/loop-a", None),
    ("d/file-as-dir", None),
    ("d/f/x", None),
    ("d/missing/f", None),
]


@pytest.mark.parametrize(("rel", "want"), RESOLVE, ids=[r[0] for r in RESOLVE])
def test_confined_resolves_inside_and_never_looks_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rel: str, want: str | None
) -> None:
    ds, outside = _link_tree(tmp_path)
    confined = tree.Confined(ds)
    seen: list[str] = []
    for fn in ("lstat", "stat", "open", "readlink", "scandir"):
        real = getattr(os, fn)

        def spy(p: Any, *a: Any, _real: Any = real, **k: Any) -> Any:
            seen.append(str(p))
            return _real(p, *a, **k)

        monkeypatch.setattr(os, fn, spy)
    if want == tree.OUTSIDE:
        with pytest.raises(tree.LeavesTree):
            confined.resolve(rel)
    else:
        got = confined.resolve(rel)
        assert (got and got[0]) == (want and str(ds / want))
    monkeypatch.undo()
    assert not [p for p in seen if p.startswith(str(outside))]


FILE = [
    ("d/f", "d/f"),
    ("top.TIF", "top.TIF"),  # in the root (whether it exists is not looked at)
    ("d/dir-in/g", "d/sub/g"),  # a symlinked folder inside is followed
    ("d/rel-out", "d/rel-out"),  # the last component is never followed: the link itself
    ("d/missing/f", None),
    ("d/f/x", None),  # a file where a folder should be
    ("d/rel-out/x", tree.OUTSIDE),
]


@pytest.mark.parametrize(("rel", "want"), FILE, ids=[r[0] for r in FILE])
def test_confined_file_resolves_only_its_folder(tmp_path: Path, rel: str, want: str | None) -> None:
    ds, _outside = _link_tree(tmp_path)
    confined = tree.Confined(ds)
    if want == tree.OUTSIDE:
        with pytest.raises(tree.LeavesTree):
            confined.file(rel)
    else:
        real = os.path.realpath(ds)
        assert confined.file(rel) == (want and f"{real}/{want}")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_scan_sets_aside_fifos_and_reports_symlinks(tmp_path: Path) -> None:
    ds = make(tmp_path / "LungSegDB", {f"{G.images}/1.TIF": b"i", f"{G.masks}/1.TIF": b"m"})
    outside = make(tmp_path / "outside", {"2.TIF": b"x", "dir/3.TIF": b"y"})
    imgs = ds / G.images
    os.mkfifo(imgs / "fifo.TIF")
    (imgs / "2.TIF").symlink_to(outside / "2.TIF")  # leaves the tree
    (imgs / "3.TIF").symlink_to("1.TIF")  # stays inside: followed
    (imgs / "4.TIF").symlink_to("gone.TIF")  # dangling
    (ds / G.masks / "3.TIF").write_bytes(b"m3")
    (ds / "raw data" / "V1").mkdir(parents=True)
    (ds / "raw data" / "V1" / "CT_Images").symlink_to(outside / "dir")  # a leaf folder outside
    scan = tree.scan(ds)
    gs = next(g for g in scan.groups if g.group == G)
    assert [f.rel for f in gs.not_regular] == [f"{G.images}/fifo.TIF"]
    assert {(lk.rel, lk.where) for lk in gs.symlinks} == {
        (f"{G.images}/2.TIF", tree.OUTSIDE),
        (f"{G.images}/3.TIF", tree.INSIDE),
        (f"{G.images}/4.TIF", tree.DANGLING),
    }
    assert [p.stem for p in gs.pairs] == ["1", "3"]
    assert [f.rel for f, _ in gs.jobs()] == [
        f"{G.images}/1.TIF",
        f"{G.masks}/1.TIF",
        f"{G.images}/3.TIF",
        f"{G.masks}/3.TIF",
    ]
    raw = next(g for g in scan.groups if g.group == Group("raw data", "V1"))
    assert raw.image_dirs == [] and raw.jobs() == []
    assert [(lk.rel, lk.where) for lk in raw.symlinks] == [("raw data/V1/CT_Images/", tree.OUTSIDE)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_irregular_pairs_are_the_pairs_a_special_file_would_make(tmp_path: Path) -> None:
    files = {f"{G.images}/{s}.TIF": b"i" for s in ("1", "2", "10")}
    files.update({f"{G.masks}/{s}.TIF": b"m" for s in ("1", "4")})
    ds = make(tmp_path / "LungSegDB", files)
    for rel in (
        f"{G.masks}/10.tif",  # pairs with the lone image 10
        f"{G.masks}/2.TIF",  # pairs with the lone image 2
        f"{G.images}/1.tiff",  # stem 1 is paired already: no second pair
        f"{G.images}/4.TIF",  # pairs with the lone mask 4
        f"{G.images}/5.TIF",  # no partner
        f"{G.masks}/6.png",  # not a TIFF name
    ):
        os.mkfifo(ds / rel)
    gs = next(g for g in tree.scan(ds).groups if g.group == G)
    assert [p.stem for p in gs.pairs] == ["1"]
    got = [(p.stem, p.image.rel, p.mask.rel) for p in tree.irregular_pairs(gs)]
    assert got == [
        ("2", f"{G.images}/2.TIF", f"{G.masks}/2.TIF"),
        ("4", f"{G.images}/4.TIF", f"{G.masks}/4.TIF"),
        ("10", f"{G.images}/10.TIF", f"{G.masks}/10.tif"),
    ]
