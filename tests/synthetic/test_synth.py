"""``lungsegdb synth``: tree shape, pixel contents, readers, determinism, archives, defects, CLI."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

# internals: exercises cli/app, dataset, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.errors import ExitCode, UsageError
from lungsegdb_cli.synthetic import archive as _synth_archive
from lungsegdb_cli.synthetic import make as synth

V1_SHAPE = (512, 512)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _members(archive: Path) -> list[str]:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            return zf.namelist()
    with tarfile.open(archive, "r:gz") as tf:
        return [m.name + ("/" if m.isdir() else "") for m in tf.getmembers()]


# ---------------------------------------------------------------------------------------------
# Tree shape and contents
# ---------------------------------------------------------------------------------------------
def test_tree_is_the_documented_tree_with_tif_names(synth_result: Any) -> None:
    tree = Path(synth_result.tree)
    assert tree.name == dataset.DATASET_DIRNAME
    assert sorted(p.name for p in tree.iterdir()) == sorted(dataset.VARIANTS)
    leaves = sorted(
        str(p.relative_to(tree).as_posix())
        for p in tree.rglob("*")
        if p.is_dir() and p.name in dataset.KINDS
    )
    assert leaves == sorted(dataset.LEAF_DIRS)
    for g in dataset.GROUPS:
        assert _names(tree / g.images) == ["1.TIF", "2.TIF", "3.TIF"]
        assert _names(tree / g.masks) == _names(tree / g.images)
    doc = synth_result.to_dict()
    assert doc["ok"] is True
    assert doc["pairs"] == {g.label: 3 for g in dataset.GROUPS}
    assert doc["files"] == 3 * 2 * len(dataset.GROUPS)
    assert doc["bytes"] == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    assert doc["defects"] == []
    assert doc["archive"]["format"] == "zip"
    assert doc["archive"]["sha256"] == _sha(Path(doc["archive"]["path"]))
    assert doc["archive"]["size"] == Path(doc["archive"]["path"]).stat().st_size
    out = Path(doc["out"])
    assert json.loads((out / synth.RESULT_FILE).read_text())["archive"] == doc["archive"]


def test_no_temp_folder_left_behind(tmp_path: Path) -> None:
    # Its own output: the shared synth_result gains a decode cache (.lungsegdb/) when another
    # test validates it first, so checking that one would depend on the test order.
    result = synth.synthesize(tmp_path, pairs=1, fmt="zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["LungSegDB", result.archive.path.name, synth.RESULT_FILE]
    ), "temp folder left behind"


@pytest.mark.parametrize(
    ("variant", "version", "dtype", "channels"),
    [
        ("preprocessed data", "V1", np.uint8, None),
        ("raw data", "V1", np.int16, None),
        ("preprocessed data", "V2", np.uint8, 3),
        ("raw data", "V2", np.uint8, 3),
    ],
)
def test_images_and_masks_per_group(
    synth_tree: Path, variant: str, version: str, dtype: Any, channels: int | None
) -> None:
    g = dataset.Group(variant, version)
    for name in _names(synth_tree / g.images):
        image = tifffile.imread(synth_tree / g.images / name)
        mask = tifffile.imread(synth_tree / g.masks / name)
        assert image.dtype == dtype
        if version == "V1":
            assert image.shape == V1_SHAPE
        else:
            h, w, c = image.shape
            assert c == channels
            assert 300 <= h <= 520 and 400 <= w <= 620
            assert np.array_equal(image[..., 0], image[..., 1])  # grey content in RGB
        if dtype == np.int16:
            assert image.min() == synth.HU_MIN  # outside the scanner's field of view
            assert 500 < image.max() <= 2000  # bone
        assert mask.dtype == np.uint8 and mask.shape == image.shape[:2]
        assert set(np.unique(mask).tolist()) == {0, 255}


def test_masks_are_two_lungs_over_dark_pixels(synth_tree: Path) -> None:
    import cv2

    for g in dataset.GROUPS:
        for name in _names(synth_tree / g.images):
            image = tifffile.imread(synth_tree / g.images / name).astype(np.float32)
            grey = image[..., 0] if image.ndim == 3 else image
            mask = tifffile.imread(synth_tree / g.masks / name) > 0
            n_labels, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
            assert n_labels - 1 == 2, f"{g.label}/{name}: expected two lungs"
            assert 0.05 < mask.mean() < 0.35
            # body: bright pixels outside the lungs; lungs must be much darker
            outside = grey[~mask]
            body = outside[outside > np.percentile(outside, 60)]
            lungs = grey[mask]
            assert np.median(lungs) < np.median(body) - 0.3 * (body.max() - grey.min())
            assert (lungs < np.median(body)).mean() > 0.95


def test_preprocessed_and_raw_show_the_same_slice(synth_tree: Path) -> None:
    for version in dataset.VERSIONS:
        pre, raw = (dataset.Group(v, version) for v in dataset.VARIANTS)
        for name in _names(synth_tree / pre.masks):
            a = tifffile.imread(synth_tree / pre.masks / name)
            b = tifffile.imread(synth_tree / raw.masks / name)
            assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("group", "kind"),
    [
        ("preprocessed data/V1", "CT_Images"),  # uint8 grey
        ("raw data/V1", "CT_Images"),  # int16 grey
        ("raw data/V2", "CT_Images"),  # RGB
        ("preprocessed data/V1", "CT_Masks"),  # uint8 0/255
    ],
)
def test_files_open_alike_in_tifffile_pillow_and_opencv(
    synth_tree: Path, group: str, kind: str
) -> None:
    import cv2
    from PIL import Image

    path = synth_tree / group / kind / "1.TIF"
    ref = tifffile.imread(path)
    with Image.open(path) as im:
        pil = np.asarray(im)
    assert pil.shape == ref.shape
    assert np.array_equal(pil.astype(np.int32), ref.astype(np.int32))
    cv = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert cv is not None and cv.dtype == ref.dtype
    assert np.array_equal(cv[..., ::-1] if cv.ndim == 3 else cv, ref)
    with tifffile.TiffFile(path) as tf:
        assert len(tf.pages) == 1
        assert "DateTime" not in tf.pages[0].tags


# ---------------------------------------------------------------------------------------------
# Counts, determinism, archives
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pairs", "scale", "expected"),
    [
        (None, None, {"V1": 4, "V2": 4}),
        (7, None, {"V1": 7, "V2": 7}),
        (None, 1.0, {"V1": 1800, "V2": 700}),
        (None, 0.01, {"V1": 18, "V2": 7}),
        (None, 0.0001, {"V1": 1, "V2": 1}),
    ],
)
def test_pair_counts(pairs: int | None, scale: float | None, expected: dict[str, int]) -> None:
    counts = synth.pair_counts(pairs, scale)
    assert {g.label: n for g, n in counts.items()} == {
        g.label: expected[g.version] for g in dataset.GROUPS
    }


@pytest.mark.parametrize(
    ("pairs", "scale"),
    [
        (-1, None),
        (0, None),
        (None, 0.0),
        (None, -0.5),
        (None, float("nan")),
        (3, 0.1),
        (None, "abc"),
        (None, True),
        ("x", None),
    ],  # the API's wrong types: a TypeError before
)
def test_pair_counts_rejects(pairs: int | None, scale: float | None) -> None:
    with pytest.raises(UsageError):
        synth.pair_counts(pairs, scale)


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, fmt: str) -> None:
    a = synth.synthesize(tmp_path / "a", pairs=1, seed=5, fmt=fmt, defects=True)
    b = synth.synthesize(tmp_path / "b", pairs=1, seed=5, fmt=fmt, defects=True)
    c = synth.synthesize(tmp_path / "c", pairs=1, seed=6, fmt=fmt, defects=True)
    assert a.archive and b.archive and c.archive
    assert a.archive.path.read_bytes() == b.archive.path.read_bytes()
    assert a.archive.sha256 == b.archive.sha256 != c.archive.sha256
    assert [d.to_dict() for d in a.defects] == [d.to_dict() for d in b.defects]


def test_worker_processes_give_the_same_bytes(tmp_path: Path) -> None:
    pooled = synth.synthesize(tmp_path / "pool", pairs=9, seed=3, fmt="zip", workers=2)  # a pool
    inline = synth.synthesize(tmp_path / "inline", pairs=9, seed=3, fmt="zip", workers=1)
    assert pooled.archive and inline.archive
    assert pooled.archive.sha256 == inline.archive.sha256


@pytest.mark.parametrize("workers", [0, -2, 1.5, True, "2"])
def test_workers_must_be_a_positive_whole_number(tmp_path: Path, workers: Any) -> None:
    with pytest.raises(UsageError, match="workers"):
        synth.synthesize(tmp_path, pairs=1, fmt="none", workers=workers)
    assert not (tmp_path / "LungSegDB").exists()


def test_workers_variable_sets_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUNGSEGDB_WORKERS", "0")
    with pytest.raises(UsageError, match="LUNGSEGDB_WORKERS"):
        synth.synthesize(tmp_path, pairs=1, fmt="none")
    assert run(["synth", str(tmp_path), "--pairs", "1", "--quiet"]) == ExitCode.USAGE
    monkeypatch.setenv("LUNGSEGDB_WORKERS", "1")
    assert synth.synthesize(tmp_path, pairs=1, fmt="none").files == 8


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a/10.TIF", "a/9.TIF", "a/"], ["a/", "a/9.TIF", "a/10.TIF"]),
        (["V1 copy/", "V1/", "V1/x"], ["V1/", "V1/x", "V1 copy/"]),  # part by part
        (["__MACOSX/", "__MACOSX.d/x", "__MACOSX/x"], ["__MACOSX/", "__MACOSX/x", "__MACOSX.d/x"]),
        (["b/2", "b/10", "b/1.TIF"], ["b/1.TIF", "b/2", "b/10"]),
    ],
)
def test_archive_member_order(names: list[str], expected: list[str]) -> None:
    assert sorted(names, key=synth.natural_key) == expected


def test_zip_members_are_sorted_with_fixed_metadata(synth_result: Any) -> None:
    with zipfile.ZipFile(synth_result.archive.path) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names, key=synth.natural_key)
    assert names[0] == "LungSegDB/"
    assert {i.date_time for i in infos} == {synth.ARCHIVE_DATE_TIME}
    files = [i for i in infos if not i.is_dir()]
    assert len(files) == 24
    assert {i.compress_type for i in files} == {zipfile.ZIP_DEFLATED}
    tree = Path(synth_result.tree)
    total = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    assert sum(i.file_size for i in files) == total
    images = [i for i in files if "/CT_Images/" in i.filename]
    ratio = sum(i.file_size for i in images) / sum(i.compress_size for i in images)
    assert 1.5 < ratio < 5, "images should compress like real CT (about 2-3x)"


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_wrap_nests_the_tree_in_the_archive(tmp_path: Path, fmt: str) -> None:
    res = synth.synthesize(tmp_path, pairs=1, fmt=fmt, wrap="MyUpload", defects=True)
    assert res.archive is not None
    assert res.archive.path == tmp_path / f"LungSegDB.{fmt}"
    names = _members(res.archive.path)
    tree_names = [n for n in names if not n.startswith("__MACOSX/")]
    assert all(n.startswith("MyUpload/") for n in tree_names)
    assert "MyUpload/LungSegDB/raw data/V2/CT_Masks/1.TIF" in names
    assert "__MACOSX/MyUpload/LungSegDB/raw data/V2/CT_Images/._1.TIF" in names
    assert Path(res.tree) == tmp_path / "LungSegDB"  # on disk the tree is not wrapped


def test_tar_gz_is_deterministic_gzip_and_tar(tmp_path: Path) -> None:
    res = synth.synthesize(tmp_path, pairs=1, fmt="tar.gz")
    assert res.archive is not None
    raw = res.archive.path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\x00\x00\x00\x00"  # no mtime
    assert raw[3] & 0x08 == 0  # no file name in the header
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tf:
        members = tf.getmembers()
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {
        (synth.ARCHIVE_EPOCH, 0, 0, "", "")
    }
    assert sum(m.isfile() for m in members) == 8


def test_format_none_writes_only_the_tree(tmp_path: Path) -> None:
    synth.synthesize(tmp_path, pairs=1, fmt="zip")
    res = synth.synthesize(tmp_path, pairs=1, fmt="none")  # replaces the earlier output
    assert res.archive is None and res.to_dict()["archive"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LungSegDB", "synth.json"]


def test_rerun_replaces_own_output_but_not_foreign_data(tmp_path: Path) -> None:
    synth.synthesize(tmp_path / "mine", pairs=2, fmt="none", defects=True)
    res = synth.synthesize(tmp_path / "mine", pairs=1, fmt="none")
    assert _names(Path(res.tree) / "raw data/V1/CT_Images") == ["1.TIF"]
    assert not (tmp_path / "mine" / synth.DEFECTS_FILE).exists()
    foreign = tmp_path / "real" / "LungSegDB"
    foreign.mkdir(parents=True)
    with pytest.raises(UsageError, match="did not write"):
        synth.synthesize(tmp_path / "real", pairs=1)


def test_interrupt_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = synth.synthesize(tmp_path, pairs=1, fmt="zip")
    assert first.archive is not None
    before = first.archive.path.read_bytes()

    def boom(*_a: Any, **_k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(_synth_archive.WRITERS, "zip", boom)
    assert run(["synth", str(tmp_path), "--pairs", "2", "--quiet"]) == ExitCode.INTERRUPTED
    assert first.archive.path.read_bytes() == before
    assert _names(tmp_path / "LungSegDB/raw data/V1/CT_Images") == ["1.TIF"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------------------------
# Defects
# ---------------------------------------------------------------------------------------------
def _read_ok(path: Path) -> np.ndarray | None:
    try:
        return tifffile.imread(path)
    except Exception:  # any decoder error means unreadable
        return None


def test_defects_cover_every_code_once(synth_defects: Any) -> None:
    codes = [d.code for d in synth_defects.defects if d.code != "junk"]
    assert sorted(codes) == sorted(
        [
            "missing-mask",
            "missing-image",
            "duplicate-stem",
            "unreadable",
            "unreadable",
            "shape-mismatch",
            "non-binary-mask",
            "empty-mask",
            "multi-channel-mask",
        ]
    )
    junk = [d for d in synth_defects.defects if d.code == "junk"]
    assert {Path(d.path).name for d in junk} >= {".DS_Store", "Thumbs.db", "._1.TIF", "desktop.ini"}
    assert any(d.where == "archive" and d.path.startswith("__MACOSX/") for d in junk)
    assert all(dataset.is_junk(d.path) and d.severity == "none" for d in junk)
    doc = json.loads((Path(synth_defects.out) / synth.DEFECTS_FILE).read_text())
    assert doc["defects"] == [d.to_dict() for d in synth_defects.defects]
    assert {d.group for d in synth_defects.defects if d.code != "junk"}.isdisjoint({"raw data/V2"})


def test_defect_severities_are_validates(synth_defects: Any) -> None:
    from lungsegdb_cli.checks import validate

    for d in synth_defects.defects:
        want = "none" if d.code == "junk" else validate.CODES[d.code]
        assert d.severity == want == d.to_dict()["severity"], d


def test_each_defect_file_shows_exactly_its_defect(synth_defects: Any) -> None:
    tree = Path(synth_defects.tree)
    for d in synth_defects.defects:
        if d.code == "junk":
            assert d.where == "archive" or (tree / d.path).is_file()
            continue
        g = next(g for g in dataset.GROUPS if g.label == d.group)
        images = [p for p in (tree / g.images).iterdir() if dataset.stem(p.name) == d.stem]
        masks = [p for p in (tree / g.masks).iterdir() if dataset.stem(p.name) == d.stem]
        assert (tree / d.path).exists(), d
        if d.code == "missing-mask":
            assert len(images) == 1 and not masks and _read_ok(images[0]) is not None
            continue
        if d.code == "missing-image":
            assert len(masks) == 1 and not images and _read_ok(masks[0]) is not None
            continue
        if d.code == "duplicate-stem":
            assert sorted(p.name for p in images) == [f"{d.stem}.TIF", f"{d.stem}.tif"]
            assert len(masks) == 1
            arrays = [_read_ok(p) for p in (*images, *masks)]
            assert all(a is not None for a in arrays)
            continue
        assert len(images) == 1 and len(masks) == 1, d
        image, mask = _read_ok(images[0]), _read_ok(masks[0])
        if d.code == "unreadable":
            bad, good = (image, mask) if "CT_Images" in d.path else (mask, image)
            assert bad is None and good is not None
            if d.message.startswith("zero-byte"):
                assert (tree / d.path).stat().st_size == 0
            continue
        assert image is not None and mask is not None, d
        same_shape = mask.shape[:2] == image.shape[:2]
        binary = set(np.unique(mask).tolist()) <= {0, 255}
        expected = {
            "shape-mismatch": (False, True, True, 2),
            "non-binary-mask": (True, False, True, 2),
            "empty-mask": (True, True, False, 2),
            "multi-channel-mask": (True, True, True, 3),
        }[d.code]
        assert (same_shape, binary, bool(mask.max() > 0), mask.ndim) == expected, d


def test_defects_are_in_the_archive(synth_defects: Any) -> None:
    names = set(_members(synth_defects.archive.path))
    for d in synth_defects.defects:
        name = d.path if d.where == "archive" else f"LungSegDB/{d.path}"
        assert name in names, d


def test_synth_pair_counts_are_validates(synth_defects: Any, tmp_path: Path) -> None:
    """synth says per group the pairs validate counts there: the defect pairs included."""
    import shutil

    import lungsegdb_cli as L

    tree = shutil.copytree(synth_defects.tree, tmp_path / "LungSegDB")  # validate caches
    report = L.validate(tree, use_cache=False)
    assert synth_defects.pairs == {f"{g.variant}/{g.version}": g.pairs for g in report.groups}
    assert synth_defects.pairs["raw data/V1"] == 7 and synth_defects.pairs["raw data/V2"] == 3
    assert synth_defects.clean_pairs == {g.label: 3 for g in dataset.GROUPS}
    doc = synth_defects.to_dict()
    assert doc["pairs"] == synth_defects.pairs and doc["clean_pairs"]["raw data/V1"] == 3


def test_synth_says_what_validate_must_report_and_what_it_must_ignore(
    synth_defects: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """9 defects validate reports and 6 junk files it never does: said as such, never as
    "15 defects"; every defect said is one validate reports, no junk file is."""
    import shutil

    import lungsegdb_cli as L

    assert run(["synth", str(tmp_path / "o"), "--pairs", "3", "--defects"]) == 0
    out = capsys.readouterr().out
    assert (
        "Planted 9 defects validate must report (6 errors, 3 warnings) and 6 OS junk files "
        "it must ignore:"
    ) in out
    assert "  raw data/V1: 7 pairs (3 clean, 4 with a planted defect)" in out
    assert "  raw data/V2: 3 pairs\n" in out
    tree = shutil.copytree(synth_defects.tree, tmp_path / "LungSegDB")
    found = {(f.code, f.path) for f in L.validate(tree, use_cache=False).findings}
    assert {(d.code, d.path) for d in synth_defects.findings} <= found
    assert not {d.path for d in synth_defects.junk} & {path for _, path in found}


# ---------------------------------------------------------------------------------------------
# The CLI: success and bad input
# ---------------------------------------------------------------------------------------------
def test_cli_json_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["synth", str(tmp_path / "o"), "--pairs", "1", "--format", "none", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    doc = json.loads(captured.out)
    for key in ("ok", "out", "tree", "archive", "pairs", "files", "bytes", "defects"):
        assert key in doc
    assert doc["files"] == 8


def test_cli_human_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["synth", str(tmp_path / "o"), "--pairs", "1", "--defects", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Archive:" in out and "missing-mask" in out


def _file(tmp_path: Path) -> Path:
    f = tmp_path / "afile"
    f.write_text("x")
    return f


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--pairs", "-1"], "--pairs"),
        (["--pairs", "0"], "--pairs"),
        (["--scale", "0"], "--scale"),
        (["--scale", "-2"], "--scale"),
        (["--pairs", "2", "--scale", "0.1"], "mutually exclusive"),
        (["--seed", "-1"], "--seed"),
        (["--wrap", "../up"], "--wrap"),
        (["--format", "rar"], "rar"),
        (["--no-such-option"], "no-such-option"),
        (["@FILE"], "not a folder"),
        (["@FILE/sub"], "a file"),
    ],
)
def test_cli_bad_input_is_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    out = str(tmp_path / "out")
    if args and args[0].startswith("@FILE"):
        out, args = args[0].replace("@FILE", str(_file(tmp_path))), []
    code = run(["synth", out, *args])
    captured = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith("error:") and needle in lines[0]
    assert len(lines) == 2 and lines[1].strip().startswith("next:")
    code = run(["synth", out, *args, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == ExitCode.USAGE and doc["ok"] is False and doc["error"]["code"] == 2


def test_cli_unwritable_out_is_exit_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "out"
    else:  # root ignores permission bits: make the OS refuse the temp folder instead

        def refuse(*_a: Any, **k: Any) -> str:
            raise PermissionError(errno.EACCES, "Permission denied", str(k.get("dir")))

        monkeypatch.setattr(synth.tempfile, "mkdtemp", refuse)
        target = tmp_path / "out"
    try:
        code = run(["synth", str(target), "--pairs", "1"])
    finally:
        if os.geteuid() != 0:
            (tmp_path / "locked").chmod(0o700)
    err = capsys.readouterr().err
    assert code == ExitCode.LOCAL
    assert "Permission denied" in err and "Traceback" not in err


def test_synth_in_a_plain_script_without_a_main_guard(tmp_path: Path) -> None:
    """docs/api.md's examples run as one plain script: ``L.synth`` on two workers must not
    start them by importing that script again (no ``if __name__ == "__main__":`` there)."""
    import subprocess
    import sys

    script = tmp_path / "plain.py"
    script.write_text(
        "import lungsegdb_cli as L\n"
        "made = L.synth('out', pairs=10, fmt='none')\n"
        "print(made.files)\n"
    )
    assert synth.INLINE_PAIRS < 10 * 4  # enough pairs for the worker pool
    env = {**os.environ, "LUNGSEGDB_WORKERS": "2"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "80" and "Traceback" not in done.stderr
