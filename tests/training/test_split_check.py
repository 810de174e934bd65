"""One check of a splits file before its splits are used (defects D3 and D4): every consumer
(``export``, ``pairs --split``, ``PairDataset(split=)``, ``preview --split``) refuses, exit 1
(CheckFailed) naming the first offence, a splits file that leaks (a group or the two copies of a
slice across splits, a pair in two splits) or that does not match the tree (stale, or made for
another tree); and ``lungsegdb split`` never writes a file the check refuses."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pairs import write_tree

import lungsegdb_cli as L

# internals: the CLI entry point, as the other tests of this folder call it
from lungsegdb_cli.cli.app import run

SPLITS = ("train", "val", "test")
GROUP_BY = r"^(pat\d+)_"
VARIANTS = ("preprocessed data", "raw data")
STEMS = [f"pat{p}_slice{s}" for p in range(6) for s in range(3)]


def _tree(root: Path, stems: list[str] = STEMS) -> Path:
    """Both variants of V1 with ``stems`` (6 patients of 3 slices by default)."""
    return write_tree(root, {f"{v}/V1": stems for v in VARIANTS})


def _in_force(tree: Path) -> Path:
    return tree.parent / ".lungsegdb" / "splits.json"


def _where(doc: dict[str, Any], name: str) -> str:
    return next(s for s in SPLITS if name in doc["splits"][s])


def _other(split: str) -> str:
    return SPLITS[(SPLITS.index(split) + 1) % 3]


def _move(doc: dict[str, Any], name: str, to: str) -> None:
    doc["splits"][_where(doc, name)].remove(name)
    doc["splits"][to] = sorted(doc["splits"][to] + [name])


# --- how to spoil a good splits file (made with group_by GROUP_BY) --------------------------
def _one_copy_moved(doc: dict[str, Any]) -> None:
    """The raw copy of a slice to another split (its preprocessed copy stays)."""
    name = "raw data/V1/pat1_slice0"
    _move(doc, name, _other(_where(doc, name)))


def _one_slice_of_a_group_moved(doc: dict[str, Any]) -> None:
    """Both copies of one slice of pat1 to another split (pat1's other slices stay)."""
    to = _other(_where(doc, "raw data/V1/pat1_slice0"))
    for v in VARIANTS:
        _move(doc, f"{v}/V1/pat1_slice0", to)


def _one_pair_twice(doc: dict[str, Any]) -> None:
    name = "raw data/V1/pat2_slice1"
    to = _other(_where(doc, name))
    doc["splits"][to] = sorted(doc["splits"][to] + [name])


def _one_pair_dropped(doc: dict[str, Any]) -> None:
    """A pair added to the tree after the split (as the file sees it: one it misses)."""
    doc["splits"][_where(doc, "raw data/V1/pat3_slice2")].remove("raw data/V1/pat3_slice2")


def _one_pair_too_many(doc: dict[str, Any]) -> None:
    doc["splits"]["train"] = sorted(doc["splits"]["train"] + ["raw data/V1/pat9_slice0"])


def _another_trees(doc: dict[str, Any]) -> None:
    """The splits of a sibling folder (same shape, other stems), as a shared state folder
    leaves them after 'split' on the sibling."""
    doc["splits"] = {
        s: sorted(n.replace("/pat", "/other") for n in names) for s, names in doc["splits"].items()
    }


def _broken_group_by(doc: dict[str, Any]) -> None:
    doc["group_by"] = "(unclosed"


SPOILED: list[Any] = [
    pytest.param(
        _one_copy_moved,
        r"copies of slice 'V1/pat1_slice0' in different splits",
        id="slice-copies-apart",
    ),
    pytest.param(
        _one_slice_of_a_group_moved, r"group 'V1/pat1' .* in 2 splits", id="group-straddles"
    ),
    pytest.param(
        _one_pair_twice, r"puts 'raw data/V1/pat2_slice1' in two splits", id="pair-in-two-splits"
    ),
    pytest.param(
        _one_pair_dropped,
        r"does not cover 1 pair of the tree, e\.g\. "
        r"'raw data/V1/pat3_slice2'",
        id="stale-pair-added",
    ),
    pytest.param(_one_pair_too_many, r"names 1 pair the tree no longer has", id="stale-pair-gone"),
    pytest.param(_another_trees, r"does not cover 36 pairs", id="another-tree"),
    pytest.param(
        _broken_group_by, r"has a group_by it cannot have been made with", id="broken-group-by"
    ),
]


# --- the consumers of a splits file ----------------------------------------------------------
def _pairs(tree: Path, spoiled: Path, tmp: Path) -> None:
    L.pairs(tree, split="train")


def _dataset(tree: Path, spoiled: Path, tmp: Path) -> None:
    L.PairDataset(tree, split="test", variant="raw")


def _export_in_force(tree: Path, spoiled: Path, tmp: Path) -> None:
    L.export("csv", tmp / "out", tree)


def _export_split_file(tree: Path, spoiled: Path, tmp: Path) -> None:
    _in_force(tree).unlink()  # only the file passed
    L.export("csv", tmp / "out", tree, split_file=spoiled)


def _preview(tree: Path, spoiled: Path, tmp: Path) -> None:
    pytest.importorskip("PIL")
    L.preview(tmp / "p.png", tree, split="val")


CONSUMERS: list[Any] = [
    pytest.param(_pairs, id="pairs"),
    pytest.param(_dataset, id="PairDataset"),
    pytest.param(_export_in_force, id="export-in-force"),
    pytest.param(_export_split_file, id="export-split-file"),
    pytest.param(_preview, id="preview"),
]


@pytest.fixture
def spoil(tmp_path: Path) -> Callable[[Callable[[dict[str, Any]], None]], tuple[Path, Path]]:
    """A tree split with GROUP_BY, then its splits file spoiled: in force and as a file."""

    def make(how: Callable[[dict[str, Any]], None]) -> tuple[Path, Path]:
        tree = _tree(tmp_path / "d")
        L.split(tree, group_by=GROUP_BY, ratios=(0.34, 0.33, 0.33))
        doc = json.loads(_in_force(tree).read_text())
        how(doc)
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        _in_force(tree).write_text(text)
        (tmp_path / "spoiled.json").write_text(text)
        return tree, tmp_path / "spoiled.json"

    return make


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize(("how", "message"), SPOILED)
def test_every_consumer_refuses_a_spoiled_splits_file(
    spoil: Any, tmp_path: Path, how: Any, message: str, consumer: Any
) -> None:
    tree, spoiled = spoil(how)
    with pytest.raises(L.CheckFailed, match=message) as caught:
        consumer(tree, spoiled, tmp_path)
    assert caught.value.exit_code == 1
    assert "lungsegdb split' again" in caught.value.hint
    assert not (tmp_path / "out").exists() and not (tmp_path / "p.png").exists()


CLI: list[Any] = [
    pytest.param(
        lambda tree, spoiled, tmp: ["pairs", "--data-dir", str(tree), "--split", "train"],
        id="pairs",
    ),
    pytest.param(
        lambda tree, spoiled, tmp: ["export", "csv", str(tmp / "out"), "--data-dir", str(tree)],
        id="export",
    ),
    pytest.param(
        lambda tree, spoiled, tmp: [
            "export",
            "csv",
            str(tmp / "out"),
            "--data-dir",
            str(tree),
            "--split-file",
            str(spoiled),
        ],
        id="export-split-file",
    ),
    pytest.param(
        lambda tree, spoiled, tmp: [
            "preview",
            str(tmp / "p.png"),
            "--data-dir",
            str(tree),
            "--split",
            "test",
        ],
        id="preview",
    ),
]


@pytest.mark.parametrize("argv", CLI)
@pytest.mark.parametrize(
    ("how", "message"),
    [
        p
        for p in SPOILED
        if p.id in ("slice-copies-apart", "group-straddles", "pair-in-two-splits", "another-tree")
    ],
)
def test_the_cli_exits_1_with_the_same_error(
    spoil: Any, tmp_path: Path, how: Any, message: str, argv: Any, capsys: Any
) -> None:
    if argv(Path("t"), Path("s"), tmp_path)[0] == "preview":
        pytest.importorskip("PIL")
    tree, spoiled = spoil(how)
    assert run([*argv(tree, spoiled, tmp_path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    import re

    assert re.search(message, doc["error"]["message"])
    assert "lungsegdb split' again" in doc["error"]["hint"]


def test_validate_names_a_leak_as_stale_splits(spoil: Any) -> None:
    tree, _ = spoil(_one_slice_of_a_group_moved)
    (found,) = [f for f in L.validate(tree, use_cache=False).findings if f.code == "stale-splits"]
    assert "group 'V1/pat1'" in found.message and "run 'lungsegdb split' again" in found.message


def test_sibling_folders_sharing_a_state_folder(tmp_path: Path, capsys: Any) -> None:
    """D4: 'split' on setB replaces setA's splits (one <parent>/.lungsegdb); then setA's
    pairs --split is exit 1 naming the mismatch, not 0 pairs and exit 0."""
    par = tmp_path / "par"
    a = _tree(par / "a")
    b = _tree(par / "b", [f"b{i}" for i in range(5)])
    (par / "a" / "LungSegDB").rename(par / "setA")
    (par / "b" / "LungSegDB").rename(par / "setB")
    a, b = par / "setA", par / "setB"
    L.split(a)
    assert len(L.pairs(a, split="train")) > 0
    L.split(b)  # the same par/.lungsegdb/splits.json
    assert run(["pairs", "--data-dir", str(a), "--split", "train", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert "does not cover 36 pairs" in doc["error"]["message"]
    with pytest.raises(L.CheckFailed, match="does not cover 36 pairs"):
        L.PairDataset(a, split="train", variant="raw")
    L.PairDataset(b, split="train", variant="raw")  # B's own splits: no error
    L.split(a)
    assert len(L.pairs(a, split="train")) > 0


def test_pairs_without_split_still_list_with_stale_splits(spoil: Any) -> None:
    """Listing every pair (no --split) uses no split to select: it still works, and
    validate is where stale splits are reported."""
    tree, _ = spoil(_one_pair_dropped)
    assert len(L.pairs(tree)) == 2 * len(STEMS)


# --- split never writes a file the check refuses ---------------------------------------------
PATTERNS = [None, r"^(p\d+)_", r"^([a-z]+)", r"(\d+)$", r"_(s\d)", r"^(.*\D)\d+$"]
_stem = st.builds(
    lambda p, n, s: f"{p}{n}_s{s}",
    st.sampled_from(["p", "q", "pat"]),
    st.integers(0, 4),
    st.integers(0, 3),
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    stems=st.lists(_stem, min_size=1, max_size=10, unique=True),
    group_by=st.sampled_from(PATTERNS),
    seed=st.integers(0, 2**32),
    stratify=st.sampled_from([None, "version"]),
    ratios=st.sampled_from([(0.7, 0.15, 0.15), (0.34, 0.33, 0.33), (0.1, 0.1, 0.8)]),
)
def test_split_never_writes_a_file_the_check_refuses(
    stems: list[str],
    group_by: str | None,
    seed: int,
    stratify: str | None,
    ratios: tuple[float, float, float],
) -> None:
    work = Path(tempfile.mkdtemp(prefix="splitcheck-"))
    try:
        tree = write_tree(work, {f"{v}/{ver}": stems for v in VARIANTS for ver in ("V1", "V2")})
        try:
            made = L.split(tree, group_by=group_by, seed=seed, stratify=stratify, ratios=ratios)
        except L.UsageError:  # the pattern misses a stem: split refuses, writes nothing
            assert group_by is not None and not _in_force(tree).exists()
            return
        every = L.pairs(tree)
        got = {s: sorted(p.key for p in L.pairs(tree, split=s)) for s in SPLITS}
        assert got == made.splits
        assert sum(map(len, got.values())) == len(every)
        by_group: dict[str, set[str | None]] = {}
        for p in every:
            by_group.setdefault(f"{p.version}/{p.group}", set()).add(p.split)
        assert all(len(s) == 1 for s in by_group.values())
        L.export("csv", work / "out", tree)  # the export's check passes it too
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_an_empty_group_capture_is_a_group_too(tmp_path: Path) -> None:
    """``--group-by '^(\\D*)\\d+$'`` on stems ``1``..``6``: every capture is ``""``, one group
    (what split hashes). A slice moved away from it by hand is a leaking group for the check,
    and ``pairs`` shows that group as the split made it, not each stem."""
    tree = write_tree(tmp_path, {f"{v}/V1": [str(i) for i in range(1, 7)] for v in VARIANTS})
    L.split(tree, group_by=r"^(\D*)\d+$", ratios=(0.5, 0.25, 0.25), seed=0)
    assert {p.group for p in L.pairs(tree)} == {""}
    doc = json.loads(_in_force(tree).read_text())
    here = _where(doc, "raw data/V1/5")
    for v in VARIANTS:
        _move(doc, f"{v}/V1/5", _other(here))
    _in_force(tree).write_text(json.dumps(doc))
    with pytest.raises(L.CheckFailed, match="group"):
        L.pairs(tree, split="train")


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize(
    "value", [None, 3, {"a": "b"}, "train"], ids=["null", "number", "object", "text"]
)
def test_a_split_that_is_not_a_list_is_a_check_failure_not_a_traceback(
    spoil: Any, tmp_path: Path, consumer: Any, value: Any
) -> None:
    """``"val": null`` in a hand-edited splits file: CheckFailed naming it, from every consumer
    (it was a TypeError)."""
    tree, spoiled = spoil(lambda doc: doc["splits"].update(val=value))
    with pytest.raises(L.CheckFailed, match="'val' is not a list of names") as caught:
        consumer(tree, spoiled, tmp_path)
    assert caught.value.exit_code == 1
