"""``lungsegdb export`` and ``verify-export`` (issue 13): each format's layout and contents,
hard links, atomic replacement, the record and what check_export sees change."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from test_pairs import write_tree

import lungsegdb_cli as L

# internals: exercises cli/app directly: behaviour the public API does not expose on its own
from lungsegdb_cli.cli.app import run

SPLITS = ("train", "val", "test")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth tree (6 pairs per group) with splits in force (seed 3: all three non-empty).
    Read-only: copy it before changing it."""
    made = L.synth(tmp_path_factory.mktemp("export") / "s", pairs=6, seed=0, fmt="none")
    result = L.split(made.tree, seed=3)
    assert all(result.splits[s] for s in SPLITS)
    return Path(made.tree)


@pytest.fixture
def own_tree(tree: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`tree` with its state folder (splits in force)."""
    dst = tmp_path / "data"
    dst.mkdir()
    shutil.copytree(tree, dst / "LungSegDB")
    shutil.copytree(tree.parent / ".lungsegdb", dst / ".lungsegdb")
    return dst / "LungSegDB"


@pytest.fixture(scope="module")
def exports(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One export of each format from :func:`tree` (read-only)."""
    base = tmp_path_factory.mktemp("exports")
    return {f: L.export(f, base / f, tree) for f in ("nnunet", "monai", "folders", "csv")}


def _splits_of(tree: Path) -> dict[str, str]:
    return {p.key: str(p.split) for p in L.pairs(tree)}


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "tops", "per_pair"),
    [
        ("nnunet", ["Dataset501_LungSegDBPreprocessed", "Dataset502_LungSegDBRaw"], 2),
        ("monai", ["preprocessed", "raw"], 2),
        ("folders", ["preprocessed", "raw"], 2),
        ("csv", ["pairs.csv"], 0),
    ],
)
def test_each_format_has_its_layout_and_record(
    exports: dict[str, Any], tree: Path, fmt: str, tops: list[str], per_pair: int
) -> None:
    result = exports[fmt]
    out = Path(result.out)
    assert sorted(result.datasets) == tops
    assert {p.name for p in out.iterdir()} == {
        *tops,
        "lungsegdb-export.json",
        "lungsegdb-splits.json",
    }
    assert result.counts == {s: sum(v == s for v in _splits_of(tree).values()) for s in SPLITS}
    assert result.splits_source == "in-force" and not result.made_default_split
    record = json.loads((out / "lungsegdb-export.json").read_text())
    assert record["schema"] == 1 and record["format"] == fmt
    assert record["lungsegdb_version"] == L.__version__
    assert record["splits"]["seed"] == 3 and record["splits"]["method"] == "keyed-hash"
    assert len(record["files"]) == per_pair * 24
    assert {e["path"] for e in record["files"]} <= _files(out)
    assert L.check_export(out).ok


def test_nnunet_layout(exports: dict[str, Any], tree: Path) -> None:
    out = Path(exports["nnunet"].out)
    splits = _splits_of(tree)
    for top, variant in (
        ("Dataset501_LungSegDBPreprocessed", "preprocessed data"),
        ("Dataset502_LungSegDBRaw", "raw data"),
    ):
        ds = out / top
        fold = json.loads((ds / "splits_final.json").read_text())
        want = {
            s: sorted(
                f"{k.split('/')[1].lower()}_{k.split('/')[2]}"
                for k, v in splits.items()
                if v == s and k.startswith(variant + "/")
            )
            for s in SPLITS
        }
        assert fold == [{"train": want["train"], "val": want["val"]}]
        assert sorted(p.name[:-9] for p in (ds / "imagesTs").iterdir()) == want["test"]
        assert sorted(p.stem for p in (ds / "labelsTs").iterdir()) == want["test"]
        for image in (ds / "imagesTr").iterdir():  # V2 RGB made single-channel, same shape
            label = ds / "labelsTr" / image.name.replace("_0000.tif", ".tif")
            a, b = tifffile.imread(image), tifffile.imread(label)
            assert a.ndim == 2 and a.shape == b.shape and b.dtype == np.uint8
            assert set(np.unique(b).tolist()) <= {0, 1}


def test_nnunet_images_linked_masks_rewritten(exports: dict[str, Any], tree: Path) -> None:
    out = Path(exports["nnunet"].out)
    # V1 images are 2D: hard links to the tree's files; V2 (RGB) and every 0/255 mask: written
    img = out / "Dataset502_LungSegDBRaw"
    source = tree / "raw data/V1/CT_Images"
    for f in source.iterdir():
        hits = list(img.glob(f"images*/v1_{Path(f).stem}_0000.tif"))
        assert len(hits) == 1 and hits[0].stat().st_ino == f.stat().st_ino
    assert exports["nnunet"].placed == {"hardlink": 12, "written": 36}


def test_nnunet_links_masks_already_0_1(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"raw data/V1": ["a", "b", "c"]}, mask_values=(0, 1))
    result = L.export("nnunet", tmp_path / "out", t, variant="raw", dataset_id=7)
    assert list(result.datasets) == ["Dataset007_LungSegDBRaw"]
    assert result.placed == {"hardlink": 6}


def test_monai_datalist(exports: dict[str, Any], tree: Path) -> None:
    out = Path(exports["monai"].out)
    splits = _splits_of(tree)
    for top in ("preprocessed", "raw"):
        doc = json.loads((out / top / "datalist.json").read_text())
        sizes = {k: len(doc[k]) for k in ("training", "validation", "test")}
        want = [sum(v == s and k.startswith(top) for k, v in splits.items()) for s in SPLITS]
        assert list(sizes.values()) == want
        for item in doc["training"] + doc["validation"] + doc["test"]:
            assert set(item) == {"image", "label"} and not os.path.isabs(item["image"])
            assert (out / top / item["image"]).is_file()
            assert set(np.unique(tifffile.imread(out / top / item["label"]))) <= {0, 1}


def test_folders_names_match_and_masks_linked(exports: dict[str, Any], tree: Path) -> None:
    out = Path(exports["folders"].out)
    for top in ("preprocessed", "raw"):
        for s in SPLITS:
            images = sorted(p.name for p in (out / top / f"{s}_images").iterdir())
            masks = sorted(p.name for p in (out / top / f"{s}_masks").iterdir())
            assert images == masks and images
            assert all(n == n.lower() and n.endswith(".tif") for n in images)
    mask = next((out / "raw").glob("*_masks/v2_3.tif"))
    assert mask.stat().st_ino == (tree / "raw data/V2/CT_Masks/3.TIF").stat().st_ino
    assert exports["folders"].placed == {"hardlink": 48}


def test_csv_rows(exports: dict[str, Any], tree: Path) -> None:
    rows = list(csv.DictReader((Path(exports["csv"].out) / "pairs.csv").open()))
    assert len(rows) == 24
    assert list(rows[0]) == [
        "split",
        "variant",
        "version",
        "group",
        "stem",
        "case",
        "image",
        "mask",
        "shape",
        "mask_convention",
    ]
    splits = _splits_of(tree)
    for r in rows:
        assert r["split"] == splits[f"{r['variant']}/{r['version']}/{r['stem']}"]
        assert Path(r["image"]).is_file() and r["mask_convention"] == "0/255"
        h, w, *c = map(int, r["shape"].split("x"))
        assert (r["version"] == "V2") == (c == [3]) and h > 0 and w > 0


@pytest.mark.parametrize(
    ("link", "same_inode", "is_link"),
    [("hardlink", True, False), ("symlink", True, True), ("copy", False, False)],
)
def test_link_modes(tree: Path, tmp_path: Path, link: str, same_inode: bool, is_link: bool) -> None:
    result = L.export("folders", tmp_path / "o", tree, link=link, variant="raw")
    f = next((tmp_path / "o/raw").glob("*_images/v1_1.tif"))
    src = tree / "raw data/V1/CT_Images/1.TIF"
    assert (f.stat().st_ino == src.stat().st_ino) is same_inode
    assert f.is_symlink() is is_link
    assert result.placed == {link: 24}
    assert L.check_export(tmp_path / "o").ok


def test_case_ids_stay_unique_after_sanitising(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"raw data/V1": ["a b", "a_b", "A.B", "ok"]})
    result = L.export("nnunet", tmp_path / "out", t, variant="raw")
    record = json.loads((tmp_path / "out/lungsegdb-export.json").read_text())
    ids = list(record["cases"].values())
    assert len({i.casefold() for i in ids}) == 4 and "v1_ok" in ids
    assert all(i.casefold().startswith("v1_a_b_") and len(i) == 15 for i in ids if i != "v1_ok")
    assert sum(result.counts.values()) == 4


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------
def test_default_split_is_made_and_said(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    made = L.synth(tmp_path / "s", pairs=3, fmt="none")
    result = L.export("csv", tmp_path / "o", made.tree)
    assert result.made_default_split and result.splits_file is None
    assert not (Path(made.tree).parent / ".lungsegdb/splits.json").exists()
    copy = (tmp_path / "o/lungsegdb-splits.json").read_bytes()
    L.split(made.tree, out=tmp_path / "default.json")
    assert copy == (tmp_path / "default.json").read_bytes()
    assert run(["export", "csv", str(tmp_path / "o2"), "--data-dir", made.tree]) == 0
    assert "default split" in capsys.readouterr().err


def test_split_file_option_and_its_errors(own_tree: Path, tmp_path: Path) -> None:
    L.split(own_tree, seed=5, out=tmp_path / "s5.json")
    result = L.export("csv", tmp_path / "o", own_tree, split_file=tmp_path / "s5.json")
    assert result.splits_source == "file"
    assert (
        run(
            [
                "export",
                "csv",
                str(tmp_path / "x"),
                "--split-file",
                str(tmp_path / "no"),
                "--data-dir",
                str(own_tree),
            ]
        )
        == 2
    )
    # made from another manifest
    manifest = own_tree.parent / "LungSegDB.sha256"
    manifest.write_text("0" * 64 + "  raw data/V1/CT_Images/1.TIF\n")
    L.split(own_tree, seed=5, out=tmp_path / "m.json")
    manifest.write_text("1" * 64 + "  raw data/V1/CT_Images/1.TIF\n")
    with pytest.raises(L.CheckFailed, match="another manifest"):
        L.export("csv", tmp_path / "o3", own_tree, split_file=tmp_path / "m.json")
    manifest.unlink()
    # not covering the pairs: one added since
    for kind in ("CT_Images", "CT_Masks"):
        shutil.copy(own_tree / f"raw data/V1/{kind}/1.TIF", own_tree / f"raw data/V1/{kind}/99.TIF")
    assert (
        run(
            [
                "export",
                "csv",
                str(tmp_path / "o4"),
                "--split-file",
                str(tmp_path / "s5.json"),
                "--data-dir",
                str(own_tree),
            ]
        )
        == 1
    )
    assert not (tmp_path / "o4").exists()


# ---------------------------------------------------------------------------------------------
# check_export
# ---------------------------------------------------------------------------------------------
def test_check_export_sees_what_changed(
    own_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    L.export("monai", out, own_tree, variant="preprocessed")
    assert run(["verify-export", str(out)]) == 0
    assert run(["export", "--check", str(out)]) == 0
    capsys.readouterr()
    # a tree file changed
    mask = own_tree / "preprocessed data/V1/CT_Masks/2.TIF"
    tifffile.imwrite(mask, np.zeros((8, 8), np.uint8))
    res = L.check_export(out)
    assert not res.ok and res.source_changed == ["preprocessed data/V1/CT_Masks/2.TIF"]
    assert run(["verify-export", str(out), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["schema"] == 1
    assert doc["files"]["counts"]["source_changed"] == 1


def _add_link_to_a_folder(out: Path, elsewhere: Path) -> None:
    (out / "added-link").symlink_to(elsewhere, target_is_directory=True)


def _add_empty_folder(out: Path, elsewhere: Path) -> None:
    (out / "newdir").mkdir()


def _label_swapped_for_a_link_to_a_copy(out: Path, elsewhere: Path) -> None:
    label = next((out / "Dataset501_LungSegDBRaw" / "labelsTr").iterdir())
    copy = elsewhere / label.name
    shutil.copy2(label, copy)
    label.unlink()
    label.symlink_to(copy)


def _image_swapped_for_a_link_to_its_tree_file(out: Path, elsewhere: Path) -> None:
    image = next((out / "Dataset501_LungSegDBRaw" / "imagesTr").iterdir())
    record = json.loads((out / "lungsegdb-export.json").read_text())
    rel = image.relative_to(out).as_posix()
    source = next(f["source"] for f in record["files"] if f["path"] == rel)
    image.unlink()
    image.symlink_to(Path(record["dataset_dir"]) / source)  # the same bytes, now a link


@pytest.mark.parametrize(
    "tamper",
    [
        _add_link_to_a_folder,
        _add_empty_folder,
        _label_swapped_for_a_link_to_a_copy,
        _image_swapped_for_a_link_to_its_tree_file,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_check_export_sees_links_and_folders_added_or_swapped_in(
    own_tree: Path, tmp_path: Path, tamper: Any
) -> None:
    """What ``export --force`` calls foreign the check calls extra (the same rule); a file the
    record lists as written or hard-linked is still that regular file, never followed."""
    out = tmp_path / "out"
    L.export("nnunet", out, own_tree, variant="raw")
    assert L.check_export(out).ok
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tamper(out, elsewhere)
    res = L.check_export(out)
    assert not res.ok
    assert run(["verify-export", str(out), "-q"]) == 1


def test_check_export_sees_splits_files_and_manifest(own_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    L.export("folders", out, own_tree, variant="raw")
    victim = next((out / "raw/train_images").iterdir())
    victim.unlink()
    (out / "raw/extra.txt").write_text("x")
    res = L.check_export(out)
    assert res.missing == [victim.relative_to(out).as_posix()]
    assert res.extra == ["raw/extra.txt"] and res.splits["ok"] and res.manifest["ok"]
    L.split(own_tree, seed=9)  # the splits in force changed
    assert not L.check_export(out).splits["ok"]
    (own_tree.parent / "LungSegDB.sha256").write_text("new manifest\n")
    assert not L.check_export(out).manifest["ok"]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["export", "zip", "{o}"], 2),
        (["export", "csv", "{o}", "--link", "reflink"], 2),
        (["export", "nnunet", "{o}", "--dataset-id", "999"], 2),
        (["export", "nnunet", "{o}", "--dataset-id", "999", "--variant", "raw"], 0),
        (["export", "csv", "{o}", "--variant", "cooked"], 2),
        (["export", "csv"], 2),
        (["verify-export", "{t}"], 2),
        (["export", "--check", "{t}"], 2),
    ],
)
def test_cli_exit_codes(
    tree: Path, tmp_path: Path, argv: list[str], code: int, capsys: pytest.CaptureFixture
) -> None:
    args = [a.format(o=tmp_path / "o", t=tmp_path) for a in argv]
    assert run([*args, "--data-dir", str(tree), "--json"]) == code
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is (code == 0) and doc["schema"] == 1


def test_export_json_document(tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        run(
            [
                "export",
                "folders",
                str(tmp_path / "o"),
                "--data-dir",
                str(tree),
                "--json",
                "--variant",
                "raw",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["format"] == "folders" and doc["variants"] == ["raw data"]
    assert doc["placed"] == {"hardlink": 24} and doc["copied_instead_of_linked"] == 0
    assert doc["splits"]["source"] == "in-force" and doc["made_default_split"] is False


def _other_device(tmp_path: Path) -> Path | None:
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev:
            return shm
    except OSError:
        return None
    return None


def test_hard_links_fall_back_to_copy_across_file_systems(tree: Path, tmp_path: Path) -> None:
    other = _other_device(tmp_path)
    if other is None:
        pytest.skip("no writable file system other than the tests' tmp dir (/dev/shm)")
    out = Path(os.path.join(other, f"lungsegdb-export-test-{os.getpid()}"))
    try:
        result = L.export("folders", out, tree, variant="raw")
        assert result.placed == {"copy-fallback": 24} and result.fell_back == 24
        assert L.check_export(out).ok
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_one_case_id_in_every_layout(tmp_path: Path) -> None:
    """A pair's case id is the same in folders, nnunet, monai and csv (the folders layout
    keeps only a lower-case ``.tif`` extension): names that join across exports."""
    import numpy as np
    import tifffile

    tree = tmp_path / "data" / "LungSegDB"
    stems = ["ID_0001_Z_0146", "ID_0002_Z_0147", "ID_0003_Z_0148", "ID_0004_Z_0149"]
    for kind in ("CT_Images", "CT_Masks"):
        folder = tree / "raw data" / "V2" / kind
        folder.mkdir(parents=True)
        for i, stem in enumerate(stems):
            hu = np.full((8, 8), -1000 + 10 * i, dtype=np.int16)  # signed Hounsfield units
            mask = np.zeros((8, 8), dtype=np.uint8)
            mask[2:6, 2:6] = 255
            tifffile.imwrite(folder / f"{stem}.TIF", mask if kind == "CT_Masks" else hu)
    L.split(tree, ratios=(0.5, 0.25, 0.25))
    ids: dict[str, set[str]] = {}
    L.export("folders", tmp_path / "f", tree)
    ids["folders"] = {p.name.removesuffix(".tif") for p in (tmp_path / "f").rglob("*_images/*")}
    L.export("nnunet", tmp_path / "n", tree)
    ids["nnunet"] = {
        p.name.removesuffix("_0000.tif") for p in (tmp_path / "n").rglob("images*/*.tif")
    }
    L.export("csv", tmp_path / "c", tree)
    rows = (tmp_path / "c" / "pairs.csv").read_text().splitlines()
    col = rows[0].split(",").index("case")
    ids["csv"] = {r.split(",")[col] for r in rows[1:]}
    L.export("monai", tmp_path / "m", tree)
    ids["monai"] = {p.name.removesuffix(".tif") for p in (tmp_path / "m").rglob("images/*.tif")}
    want = {f"v2_{s}" for s in stems}
    assert ids == dict.fromkeys(ids, want)


# ---------------------------------------------------------------------------------------------
# What the CSV and verify-export say
# ---------------------------------------------------------------------------------------------
def test_csv_mask_convention_leaves_the_alpha_channel_out(tmp_path: Path) -> None:
    """An RGBA mask is judged by its colour channels, as validate and stats judge it: an
    empty one is ``0`` (was ``0/255``: the opaque alpha), a 0/1 one ``0/1`` (was
    ``non-binary``); a 0/127 mask is ``0/127``, an all-lung one ``0/255``."""
    tree = write_tree(tmp_path / "d", {"raw data/V1": ["a", "b", "c", "d"]})
    masks = tree / "raw data/V1/CT_Masks"
    rgba = np.zeros((6, 5, 4), np.uint8)
    rgba[..., 3] = 255
    tifffile.imwrite(masks / "a.TIF", rgba, photometric="rgb", extrasamples=["unassalpha"])
    rgba[1:3, 1:3, :3] = 1
    tifffile.imwrite(masks / "b.TIF", rgba, photometric="rgb", extrasamples=["unassalpha"])
    tifffile.imwrite(masks / "c.TIF", np.where(np.eye(6, 5) > 0, 127, 0).astype(np.uint8))
    tifffile.imwrite(masks / "d.TIF", np.full((6, 5), 255, np.uint8))
    L.export("csv", tmp_path / "out", tree)
    with open(tmp_path / "out" / "pairs.csv", newline="") as fh:
        got = {r["stem"]: r["mask_convention"] for r in csv.DictReader(fh)}
    assert got == {"a": "0", "b": "0/1", "c": "0/127", "d": "0/255"}


def test_verify_export_calls_an_unreadable_file_unreadable_not_missing(
    tree: Path, tmp_path: Path
) -> None:
    """Audit V: ``pairs.csv`` there but unreadable was reported ``missing`` (exit 1); it is
    the machine's refusal, exit 5. As root the read needs CAP_DAC_OVERRIDE dropped
    (``setpriv``); skipped where that cannot be done."""
    import shutil as _shutil

    out = tmp_path / "out"
    L.export("csv", out, tree)
    (out / "pairs.csv").chmod(0)
    cmd = [sys.executable, "-m", "lungsegdb_cli", "verify-export", str(out)]
    if os.geteuid() == 0:
        if _shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: permission bits are not enforced")
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    if os.geteuid() == 0 and "setpriv" in proc.stderr:
        pytest.skip(f"setpriv refused here: {proc.stderr.strip()}")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "Permission denied" in proc.stderr and "missing" not in proc.stdout
