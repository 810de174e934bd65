"""Splits that do not leak and do not drift (issue 13): keyed-hash assignment, splits.json,
``lungsegdb split`` and ``pairs --split``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_pairs import write_tree

import lungsegdb_cli as L

# internals: exercises cli/app, training/split, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.training.split import (
    SUGGESTED_GROUP_BY,
    assign,
    check_ratios,
    suggest_group_by,
    unit,
)

SPLITS = ("train", "val", "test")


def _split_of(doc: dict[str, Any]) -> dict[str, str]:
    return {name: s for s in SPLITS for name in doc["splits"][s]}


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two synth trees with the same seed: 6 and 16 pairs per group (10 added)."""
    base = tmp_path_factory.mktemp("grow")
    small = L.synth(base / "small", pairs=6, seed=0, fmt="none")
    big = L.synth(base / "big", pairs=16, seed=0, fmt="none")
    return Path(small.tree), Path(big.tree)


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    """Stems ``caseN_sliceM``: 6 cases of 4 slices in every group."""
    names = [f"case{c}_slice{m}" for c in range(1, 7) for m in range(1, 5)]
    labels = [f"{v}/{ver}" for v in ("preprocessed data", "raw data") for ver in ("V1", "V2")]
    return write_tree(tmp_path, dict.fromkeys(labels, names))


def test_split_twice_is_byte_identical(synth_tree: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    L.split(synth_tree, seed=3, out=a)
    L.split(synth_tree, seed=3, out=b)
    assert a.read_bytes() == b.read_bytes()
    doc = json.loads(a.read_text())
    assert doc["schema"] == 1 and doc["method"] == "keyed-hash" and doc["seed"] == 3
    assert doc["manifest_sha256"] is None and doc["group_by"] is None
    assert a.read_text() == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    assert all(doc["splits"][s] == sorted(doc["splits"][s]) for s in SPLITS)
    assert sum(len(doc["splits"][s]) for s in SPLITS) == 12


def test_the_assignment_is_pinned() -> None:
    """The hash is part of the contract: a change here moves every user's splits."""
    got = [assign(f"V1/{i}", 0, (0.7, 0.15, 0.15)) for i in range(1, 9)]
    assert got == ["train", "train", "train", "train", "train", "test", "train", "train"]
    assert unit("V1/1", 0) == 0.48647885328596624
    assert unit("V1/1", 1) != unit("V1/1", 0) != unit("V2/1", 0)


def test_adding_pairs_moves_none_of_the_others(grown: tuple[Path, Path], tmp_path: Path) -> None:
    small, big = grown
    before = _split_of(json.loads(_write(small, tmp_path / "s.json").read_text()))
    after = _split_of(json.loads(_write(big, tmp_path / "b.json").read_text()))
    assert len(before) == 24 and len(after) == 64
    assert {n: after[n] for n in before} == before
    assert {after[n] for n in after} == set(SPLITS)  # 64 pairs: every split is used


def _write(tree: Path, out: Path, **kw: Any) -> Path:
    L.split(tree, out=out, **kw)
    return out


def test_the_variants_of_one_slice_share_a_split(grown: tuple[Path, Path], tmp_path: Path):
    where = _split_of(json.loads(_write(grown[1], tmp_path / "x.json", seed=5).read_text()))
    for name, s in where.items():
        variant, version, stem = name.split("/")
        other = "raw data" if variant == "preprocessed data" else "preprocessed data"
        assert where[f"{other}/{version}/{stem}"] == s


def test_the_version_is_in_the_key(grown: tuple[Path, Path], tmp_path: Path) -> None:
    result = L.split(grown[1], out=tmp_path / "x.json")
    groups = sum(c["groups"] for per in result.counts.values() for c in per.values())
    assert groups == 32  # 16 stems in V1 and 16 in V2: never one key for both
    where = _split_of(json.loads((tmp_path / "x.json").read_text()))
    v1 = [where[f"raw data/V1/{i}"] for i in range(1, 17)]
    v2 = [where[f"raw data/V2/{i}"] for i in range(1, 17)]
    assert v1 != v2


def test_with_group_by_no_group_straddles_splits(scans: Path, tmp_path: Path) -> None:
    out = _write(scans, tmp_path / "g.json", group_by=r"^(case\d+)_", seed=1)
    where = _split_of(json.loads(out.read_text()))
    seen: dict[str, set[str]] = {}
    for name, s in where.items():
        _, version, stem = name.split("/")
        seen.setdefault(f"{version}/{stem.split('_')[0]}", set()).add(s)
    assert len(seen) == 12 and all(len(s) == 1 for s in seen.values())
    result = L.split(scans, group_by=r"^(case\d+)_", seed=1, out=tmp_path / "g2.json")
    assert sum(c["groups"] for per in result.counts.values() for c in per.values()) == 12
    assert result.suggestion is None


def test_a_shared_prefix_suggests_group_by(scans: Path, tmp_path: Path, capsys) -> None:
    result = L.split(scans, out=tmp_path / "x.json")
    assert result.suggestion == SUGGESTED_GROUP_BY
    assert run(["split", "--data-dir", str(scans), "--out", str(tmp_path / "y.json")]) == 0
    captured = capsys.readouterr()
    assert "--group-by" in captured.out and "--group-by" in captured.err


@pytest.mark.parametrize(
    ("stems", "suggested"),
    [
        (["1", "2", "3", "10"], False),
        ([f"p{c}_s{m}" for c in range(3) for m in range(5)], True),
        (["a1", "b2", "c3", "d4"], False),
        (["V1/1", "V1/2", "V1/3", "V2/1", "V2/2", "V2/3"], False),  # the version is no prefix
        ([f"V1/p{c}_s{m}" for c in range(3) for m in range(5)], True),
        # audit E: one stem the regex leaves out, and split would refuse the suggestion
        ([f"V1/p{c}_s{m}" for c in range(3) for m in range(5)] + ["V1/=cmd"], False),
        ([], False),
    ],
)
def test_suggest_group_by(stems: list[str], suggested: bool) -> None:
    assert (suggest_group_by(stems) is not None) is suggested


def test_numbered_stems_get_no_suggestion(synth_result: Any, tmp_path: Path) -> None:
    """The synthetic stems 1, 2, ... (in V1 and V2) have no prefix: no suggestion, since
    splitting with it would fail on every stem."""
    result = L.split(synth_result.tree, out=tmp_path / "s.json")
    assert result.suggestion is None and result.suggestion_groups is None


def test_pairs_read_the_splits_in_force(synth_result: Any, tmp_path: Path) -> None:
    tree = Path(shutil.copytree(synth_result.tree, tmp_path / "LungSegDB"))
    result = L.split(tree, ratios=(0.5, 0.25, 0.25), seed=0)
    assert Path(result.path) == tmp_path / ".lungsegdb" / "splits.json"
    everything = L.pairs(tree)
    assert all(p.split in SPLITS for p in everything)
    for s in SPLITS:
        mine = L.pairs(tree, split=s)
        assert [p.key for p in mine] == [p.key for p in everything if p.split == s]
        assert sorted(p.key for p in mine) == result.splits[s]
        assert len(L.PairDataset(tree, split=s, variant="all")) == len(mine)


def test_pairs_groups_follow_the_group_by_in_force(scans: Path) -> None:
    L.split(scans, group_by=r"^(case\d+)_")
    assert {p.group for p in L.pairs(scans)} == {f"case{c}" for c in range(1, 7)}


def test_manifest_sha256_is_the_manifests(synth_result: Any, tmp_path: Path) -> None:
    L.download(tmp_path / "data", archive=synth_result.archive.path)
    result = L.split(tmp_path / "data")
    manifest = tmp_path / "data" / "LungSegDB.sha256"
    assert result.manifest_sha256 == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert json.loads(Path(result.path).read_text())["manifest_sha256"] == result.manifest_sha256


@pytest.mark.parametrize(
    "ratios",
    ["0.5,0.5", "0.7,0.2,0.2", "1,0,0", "-0.1,0.6,0.5", "a,b,c", "nan,0.5,0.5", "0.7,0.15,0.15,0"],
)
def test_bad_ratios_exit_2(synth_tree: Path, tmp_path: Path, ratios: str, capsys) -> None:
    out = tmp_path / "x.json"
    argv = ["split", "--data-dir", str(synth_tree), "--ratios", ratios, "--out", str(out)]
    assert run([*argv, "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["schema"] == 1 and doc["error"]["kind"] == "usage"
    assert not out.exists()


@pytest.mark.parametrize("ratios", [(0.7, 0.15, 0.15), (1 / 3, 1 / 3, 1 / 3), (0.8, 0.1, 0.1)])
def test_good_ratios(ratios: tuple[float, float, float]) -> None:
    assert check_ratios(ratios) == ratios


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        (r"^(case\d+)_", "does not match"),
        ("(unclosed", "not a regular expression"),
        ("^case", "no capture group"),
    ],
)
def test_bad_group_by_exit_2(
    synth_tree: Path, tmp_path: Path, regex: str, message: str, capsys
) -> None:
    out = tmp_path / "x.json"
    argv = ["split", "--data-dir", str(synth_tree), "--group-by", regex, "--out", str(out)]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    if message == "does not match":
        assert "12 stems, e.g. '1'" in err
    assert not out.exists()


def test_split_json_has_ok_schema_counts_and_ratios(synth_tree: Path, tmp_path: Path, capsys):
    out = tmp_path / "x.json"
    argv = ["split", "--data-dir", str(synth_tree), "--seed", "2", "--out", str(out), "--json"]
    assert run(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["schema"] == 1 and doc["path"] == str(out)
    assert doc["pairs"] == 12 and set(doc["counts"]) == set(SPLITS)
    assert set(doc["counts"]["train"]) == {"V1", "V2"}
    assert abs(sum(doc["achieved"].values()) - 1) < 1e-5
    assert doc["ratios"] == [0.7, 0.15, 0.15]


def test_split_human_report(synth_tree: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.json"
    assert run(["split", "--data-dir", str(synth_tree), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Split 12 pairs" in text and f"Written: {out}" in text
    for s in SPLITS:
        assert f"  {s}" in text
    assert "V1" in text and "groups" in text and "asked for 0.7/0.15/0.15" in text


@pytest.mark.parametrize("seed", ["1" * 65, "x", "1.5"])
def test_bad_seed_exit_2(synth_tree: Path, tmp_path: Path, seed: str) -> None:
    out = tmp_path / "x.json"
    assert run(["split", "--data-dir", str(synth_tree), "--seed", seed, "--out", str(out)]) == 2
    assert not out.exists()


# --- --stratify version ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lopsided(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """V1 with 40 stems and V2 with 10, in both variants: few groups, where the plain hash
    strays from the ratios."""
    root = tmp_path_factory.mktemp("lopsided")
    stems = {"V1": [f"a{i}" for i in range(40)], "V2": [f"b{i}" for i in range(10)]}
    labels = {
        f"{v}/{ver}": stems[ver] for v in ("preprocessed data", "raw data") for ver in ("V1", "V2")
    }
    return write_tree(root, labels)


def _per_version(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for s in SPLITS:
        for name in doc["splits"][s]:
            version = name.split("/")[1]
            out.setdefault(version, dict.fromkeys(SPLITS, 0))[s] += 1
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_stratify_meets_the_ratios_in_every_version(lopsided: Path, tmp_path: Path, seed: int):
    doc = json.loads(
        _write(lopsided, tmp_path / "s.json", seed=seed, stratify="version").read_text()
    )
    assert doc["stratify"] == "version"
    counts = _per_version(doc)
    # 80 V1 pairs (40 slices x 2 variants), 20 V2 pairs: one slice (2 pairs) of slack a cut.
    assert counts["V1"] == pytest.approx({"train": 56, "val": 12, "test": 12}, abs=2)
    assert counts["V2"] == pytest.approx({"train": 14, "val": 3, "test": 3}, abs=2)
    split_of = _split_of(doc)
    for name, s in split_of.items():  # the variants of one slice still share a split
        variant, rest = name.split("/", 1)
        other = "raw data" if variant == "preprocessed data" else "preprocessed data"
        assert split_of[f"{other}/{rest}"] == s


def test_stratify_keeps_groups_whole_and_is_byte_identical(scans: Path, tmp_path: Path) -> None:
    a = _write(scans, tmp_path / "a.json", group_by=r"^(case\d+)_", stratify="version")
    b = _write(scans, tmp_path / "b.json", group_by=r"^(case\d+)_", stratify="version")
    assert a.read_bytes() == b.read_bytes()
    seen: dict[str, str] = {}
    for name, s in _split_of(json.loads(a.read_text())).items():
        _, version, stem = name.split("/")
        assert seen.setdefault(f"{version}/{stem.split('_')[0]}", s) == s


def test_without_stratify_the_file_has_no_stratify_key(synth_tree: Path, tmp_path: Path) -> None:
    doc = json.loads(_write(synth_tree, tmp_path / "s.json").read_text())
    assert "stratify" not in doc


def test_bad_stratify_exit_2(synth_tree: Path, tmp_path: Path, capsys) -> None:
    code = run(
        [
            "split",
            "--data-dir",
            str(synth_tree),
            "--stratify",
            "variant",
            "--out",
            str(tmp_path / "s.json"),
        ]
    )
    assert code == 2
    assert "Cannot stratify by 'variant'" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


# --- validate warns when the splits in force no longer match the tree ---------------------------
def _stale(tree: Path) -> list[dict[str, Any]]:
    return [
        f.to_dict() for f in L.validate(tree, use_cache=False).findings if f.code == "stale-splits"
    ]


def test_validate_warns_when_the_splits_no_longer_match(tmp_path: Path) -> None:
    labels = {
        f"{v}/{ver}": ["1", "2", "3"]
        for v in ("preprocessed data", "raw data")
        for ver in ("V1", "V2")
    }
    tree = write_tree(tmp_path / "d", labels)
    L.split(tmp_path / "d")
    assert _stale(tree) == []  # fresh splits: no finding
    write_tree(
        tmp_path / "d",
        {"raw data/V1": ["1", "2", "3", "4"], "preprocessed data/V1": ["1", "2", "3", "4"]},
    )
    (found,) = _stale(tree)
    assert found["severity"] == "warning"
    assert found["path"] == "../.lungsegdb/splits.json"
    assert "2 pairs of the tree are in no split" in found["message"]
    for kind in ("CT_Images", "CT_Masks"):
        for ver in ("V1", "V2"):
            for v in ("preprocessed data", "raw data"):
                (tree / v / ver / kind / "4.TIF").unlink(missing_ok=True)
                (tree / v / ver / kind / "1.TIF").unlink()
    (found,) = _stale(tree)
    assert "4 split entries name pairs the tree no longer has" in found["message"]
    strict = L.validate(tree, strict=True, use_cache=False)
    assert [f.severity for f in strict.findings if f.code == "stale-splits"] == ["error"]


def test_a_fifo_in_place_of_the_splits_file_never_blocks(tmp_path: Path, capsys) -> None:
    import os

    labels = {f"{v}/V1": ["1", "2"] for v in ("preprocessed data", "raw data")}
    tree = write_tree(tmp_path / "d", labels)
    L.split(tmp_path / "d")
    where = tmp_path / "d" / ".lungsegdb" / "splits.json"
    where.unlink()
    os.mkfifo(where)
    (found,) = _stale(tree)  # validate reports it and goes on
    assert "not a regular file (FIFO)" in found["message"]
    code = run(["pairs", "--data-dir", str(tmp_path / "d"), "--json"])
    assert code == 5  # the local machine refused: named, never a hang
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and "not a regular file (FIFO)" in doc["error"]["message"]


def _two_variant_tree(root: Path, stems: list[str]) -> Path:
    """Both variants of V2 with ``stems`` (tiny uint8 images, 0/255 masks)."""
    import numpy as np
    import tifffile

    tree = root / "LungSegDB"
    for variant in ("preprocessed data", "raw data"):
        for kind in ("CT_Images", "CT_Masks"):
            folder = tree / variant / "V2" / kind
            folder.mkdir(parents=True)
            for stem in stems:
                data = np.full((4, 4), 255 if kind == "CT_Masks" else 7, dtype=np.uint8)
                tifffile.imwrite(folder / f"{stem}.TIF", data)
    return tree


@pytest.mark.parametrize(
    ("stems", "groups"),
    [
        ([f"ID_{i:04d}_Z_{140 + i:04d}" for i in range(12)], None),  # the Kaggle names: unique
        ([f"LIDC-{p:04d}_{s:04d}" for p in range(3) for s in range(4)], 3),  # 3 scans
    ],
    ids=["unique-prefixes", "shared-prefixes"],
)
def test_the_suggestion_counts_slices_not_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stems: list[str], groups: int | None
) -> None:
    tree = _two_variant_tree(tmp_path, stems)
    result = L.split(tree, out=tmp_path / "s.json")
    assert result.suggestion_groups == groups
    assert (result.suggestion is None) is (groups is None)
    assert run(["split", "--data-dir", str(tree), "--out", str(tmp_path / "t.json")]) == 0
    err = capsys.readouterr().err
    if groups is None:
        assert "--group-by" not in err
    else:
        assert f"consider --group-by '{SUGGESTED_GROUP_BY}' (it would make {groups} groups)" in err


def test_a_stem_that_is_not_utf8_is_split_by_its_bytes(tmp_path: Path) -> None:
    """A file name whose bytes are not UTF-8 (Latin-1 ``café`` from an old scanner export)
    reaches Python as a surrogate escape; split hashed it with ``encode("utf-8")`` and died
    with a traceback. It is hashed by its own bytes: exit 0, every pair assigned, the other
    keys' hashes unchanged."""
    names = ["1", "2", "3"]
    labels = [f"raw data/{ver}" for ver in ("V1", "V2")]
    tree = write_tree(tmp_path, dict.fromkeys(labels, names))
    odd = os.fsdecode(b"caf\xe9")
    try:
        for label in labels:
            for kind in ("CT_Images", "CT_Masks"):
                (tree / label / kind / "3.TIF").rename(tree / label / kind / f"{odd}.TIF")
    except (OSError, UnicodeError):  # pragma: no cover - a file system that refuses the name
        pytest.skip("this file system refuses a name that is not UTF-8")
    assert run(["split", "--data-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / ".lungsegdb" / "splits.json").read_text())
    assigned = _split_of(doc)
    assert len(assigned) == 6 and "raw data/V1/caf\udce9" in assigned
    assert unit("V1/1", 0) == 0.48647885328596624  # valid UTF-8 keys hash as before
    split = assigned["raw data/V1/caf\udce9"]
    assert run(["pairs", "--data-dir", str(tmp_path), "--split", split, "--json"]) == 0
