"""`lungsegdb extract`: layouts, formats, hostile archives, atomicity, idempotence."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from support.fakes import InterruptingProgress

# internals: exercises archive, checks, ... directly (not public API)
from lungsegdb_cli.archive import extract as ex
from lungsegdb_cli.checks import manifest
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import resolve
from lungsegdb_cli.errors import ArchiveError, UnsafeArchiveError


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------
def tree(pairs: int = 2, size: int = 3000) -> dict[str, bytes]:
    """The documented tree as ``{relative path: content}``; content is compressible bytes."""
    out: dict[str, bytes] = {}
    for k, leaf in enumerate(dataset.LEAF_DIRS):
        for i in range(pairs):
            seed = (k * 31 + i * 7 + 1).to_bytes(4, "little")
            out[f"{leaf}/{i:03d}.TIF"] = b"II*\x00" + (seed * (size // 4))[: size - 4]
    return out


def make_zip(path: Path, files: dict[str, bytes], *, prefix: str = "", extra=None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)
        if extra is not None:
            extra(zf)
    return path


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz", *, prefix: str = "") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def debris(data: Path) -> list[str]:
    if not data.exists():
        return []
    return sorted(p.name for p in data.iterdir() if ".staging-" in p.name or ".old-" in p.name)


def extract_cli(archive: Path, data: Path, *extra: str) -> int:
    return run(["extract", "--archive", str(archive), "--data-dir", str(data), "--quiet", *extra])


def json_doc(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


# ---------------------------------------------------------------------------------------------
# Layouts and formats: always exactly the documented tree
# ---------------------------------------------------------------------------------------------
def _renamed(name: str) -> str:
    return (
        name.replace("preprocessed data", "Preprocessed_Data")
        .replace("raw data", "RAW-data")
        .replace("CT_Images", "ct images")
    )


def _with_junk(zf: zipfile.ZipFile) -> None:
    zf.writestr("__MACOSX/LungSegDB/raw data/V1/CT_Images/._000.TIF", b"junk")
    zf.writestr("LungSegDB/.DS_Store", b"junk")
    zf.writestr("LungSegDB/raw data/V1/CT_Masks/Thumbs.db", b"junk")


LAYOUTS = [
    # id, transform of each documented path -> archive path, extra members
    ("top-level", lambda n: n, None),
    ("under-LungSegDB", lambda n: "LungSegDB/" + n, None),
    ("wrapper", lambda n: "download (1)/LungSegDB/" + n, None),
    ("wrapper-no-LungSegDB", lambda n: "dataset_v2/" + n, None),
    ("renamed", lambda n: "LungSegDB/" + _renamed(n), None),
    ("macosx-junk", lambda n: "LungSegDB/" + n, _with_junk),
]


@pytest.mark.parametrize(("layout", "rename", "extra"), LAYOUTS, ids=[x[0] for x in LAYOUTS])
def test_every_layout_gives_the_documented_tree(tmp_path, capsys, layout, rename, extra):
    files = tree()
    archive = make_zip(tmp_path / "a.zip", {rename(k): v for k, v in files.items()}, extra=extra)
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 0
    doc = json_doc(capsys)
    assert read_tree(data / "LungSegDB") == files
    assert doc["files"] == len(files)
    assert doc["missing"] == []
    assert sorted(doc["mapped"].values()) == sorted(dataset.LEAF_DIRS)
    assert doc["junk"] == (3 if extra else 0)
    assert debris(data) == []
    # where each documented folder sits in the archive is recorded with the manifest
    layout = manifest.archive_layout(resolve(data))
    assert layout is not None and layout.format == "zip"
    assert layout.folders == {
        leaf: rename(leaf + "/x").rsplit("/", 1)[0] for leaf in dataset.LEAF_DIRS
    }


@pytest.mark.parametrize("mode", ["w:gz", "w", "w:bz2", "w:xz"])
def test_tar_family(tmp_path, capsys, mode):
    files = tree()
    archive = make_tar(tmp_path / "a.bin", files, mode, prefix="wrap/LungSegDB/")
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 0
    doc = json_doc(capsys)
    assert (
        doc["format"] == {"w:gz": "tar.gz", "w": "tar", "w:bz2": "tar.bz2", "w:xz": "tar.xz"}[mode]
    )
    assert read_tree(data / "LungSegDB") == files
    assert manifest.read(resolve(data)) is not None
    layout = manifest.archive_layout(resolve(data))
    assert layout is not None and layout.format == doc["format"]
    assert layout.folders == {leaf: f"wrap/LungSegDB/{leaf}" for leaf in dataset.LEAF_DIRS}


def test_7z_with_the_optional_extra(tmp_path, capsys):
    py7zr = pytest.importorskip("py7zr")
    files = tree()
    src = tmp_path / "src"
    for name, content in files.items():
        (src / "LungSegDB" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "LungSegDB" / name).write_bytes(content)
    archive = tmp_path / "a.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.writeall(src / "LungSegDB", "LungSegDB")
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 0
    assert json_doc(capsys)["format"] == "7z"
    assert read_tree(data / "LungSegDB") == files


def test_skipped_files_are_reported_not_extracted(tmp_path, capsys):
    files = tree(pairs=1)
    members = {"LungSegDB/" + k: v for k, v in files.items()}
    members["LungSegDB/README.txt"] = b"hello"
    members["LungSegDB/raw data/V1/CT_Images/notes.txt"] = b"x"
    members["copy/LungSegDB/raw data/V1/CT_Images/000.TIF"] = b"other copy"
    archive = make_zip(tmp_path / "a.zip", members)
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 0
    doc = json_doc(capsys)
    reasons = {s["path"]: s["reason"] for s in doc["skipped"]}
    assert reasons == {
        "LungSegDB/README.txt": "outside-tree",
        "LungSegDB/raw data/V1/CT_Images/notes.txt": "not-tiff",
        "copy/LungSegDB/raw data/V1/CT_Images/000.TIF": "duplicate-tree",
    }
    assert read_tree(data / "LungSegDB") == files


def test_partial_tree_extracts_what_is_there_and_reports_the_rest(tmp_path, capsys):
    files = {k: v for k, v in tree().items() if k.startswith("raw data/V1/")}
    archive = make_zip(tmp_path / "a.zip", files, prefix="LungSegDB/")
    data = tmp_path / "data"
    code = run(["extract", "--archive", str(archive), "--data-dir", str(data)])
    captured = capsys.readouterr()
    assert code == 0
    assert read_tree(data / "LungSegDB") == files
    assert "preprocessed data/V2/CT_Masks" in captured.err  # the warning names what is missing
    assert "missing:" in captured.out


def test_no_tree_is_exit_4_with_the_top_level_listing(tmp_path, capsys):
    archive = make_zip(tmp_path / "a.zip", {"photos/cat.jpg": b"x", "notes.txt": b"y"})
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 4
    err = capsys.readouterr().err
    assert "photos/" in err and "notes.txt" in err
    assert not (data / "LungSegDB").exists()
    assert debris(data) == []


# ---------------------------------------------------------------------------------------------
# Hostile and broken archives: exit 4, nothing written
# ---------------------------------------------------------------------------------------------
def _zip_with(tmp_path: Path, add) -> Path:
    files = tree(pairs=1)
    return make_zip(tmp_path / "bad.zip", files, prefix="LungSegDB/", extra=add)


def _zip_symlink(zf: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("LungSegDB/raw data/V1/CT_Images/link.TIF")
    info.create_system = 3
    info.external_attr = (0o120777 << 16) | 0
    zf.writestr(info, "/etc/passwd")


def _tar_with(tmp_path: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp_path / "bad.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, content in tree(pairs=1).items():
            ti = tarfile.TarInfo("LungSegDB/" + name)
            ti.size = len(content)
            tf.addfile(ti, io.BytesIO(content))
        info.size = len(data) if info.isreg() else 0
        tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _tinfo(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    return ti


def _bomb(tmp_path: Path) -> Path:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("LungSegDB/raw data/V1/CT_Images/big.TIF", bytes(100 << 20))
    return path


def _lying(tmp_path: Path) -> Path:
    """A member whose headers (local and central) declare 100 bytes but inflate to 200 KB."""
    path = tmp_path / "lying.zip"
    name = "LungSegDB/raw data/V1/CT_Images/x.TIF"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, bytes(200_000))
    raw = bytearray(path.read_bytes())
    small = (100).to_bytes(4, "little")
    local = raw.index(b"PK\x03\x04")
    raw[local + 22 : local + 26] = small
    central = raw.index(b"PK\x01\x02")
    raw[central + 24 : central + 28] = small
    path.write_bytes(bytes(raw))
    return path


def _truncated(tmp_path: Path) -> Path:
    path = make_zip(tmp_path / "t.zip", tree(pairs=2), prefix="LungSegDB/")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _crc_error(tmp_path: Path) -> Path:
    path = tmp_path / "crc.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, content in tree(pairs=1).items():
            zf.writestr("LungSegDB/" + name, content)
    raw = bytearray(path.read_bytes())
    first = raw.index(b"PK\x03\x04")
    name_len, extra_len = (
        int.from_bytes(raw[first + 26 : first + 28], "little"),
        int.from_bytes(raw[first + 28 : first + 30], "little"),
    )
    raw[first + 30 + name_len + extra_len + 100] ^= 0xFF  # flip a byte of the first file's data
    path.write_bytes(bytes(raw))
    return path


def _bad_deflate(tmp_path: Path) -> Path:
    path = make_zip(tmp_path / "d.zip", tree(pairs=1), prefix="LungSegDB/")
    raw = bytearray(path.read_bytes())
    first = raw.index(b"PK\x03\x04")
    name_len = int.from_bytes(raw[first + 26 : first + 28], "little")
    start = first + 30 + name_len
    raw[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    return path


def _tgz_flipped(tmp_path: Path) -> Path:
    path = tmp_path / "flip.tgz"
    with tarfile.open(path, "w:gz") as tf:
        rng = random.Random(284)  # seeded: the same archive, and the same flip, every run
        for name, content in tree(pairs=2).items():
            data = content + rng.randbytes(20_000)  # incompressible: a flip cannot vanish
            info = tarfile.TarInfo("LungSegDB/" + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    path.write_bytes(bytes(raw))
    return path


HOSTILE = [
    ("zip-traversal", lambda p: _zip_with(p, lambda zf: zf.writestr("../evil.TIF", b"x")), True),
    ("zip-absolute", lambda p: _zip_with(p, lambda zf: zf.writestr("/tmp/evil.TIF", b"x")), True),
    (
        "zip-backslash-traversal",
        lambda p: _zip_with(p, lambda zf: zf.writestr("LungSegDB\\..\\..\\evil.TIF", b"x")),
        True,
    ),
    ("zip-symlink", lambda p: _zip_with(p, _zip_symlink), True),
    ("zip-bomb-ratio", _bomb, True),
    ("zip-lying-size", _lying, True),
    ("zip-truncated", _truncated, False),
    ("zip-crc-error", _crc_error, False),
    ("zip-bad-deflate", _bad_deflate, False),
    ("tar-gz-corrupt", _tgz_flipped, False),
    ("tar-traversal", lambda p: _tar_with(p, _tinfo("LungSegDB/../../evil.TIF"), b"x"), True),
    ("tar-absolute", lambda p: _tar_with(p, _tinfo("/tmp/evil.TIF"), b"x"), True),
    (
        "tar-symlink",
        lambda p: _tar_with(
            p, _tinfo("LungSegDB/raw data/V1/CT_Images/l.TIF", tarfile.SYMTYPE, "/x")
        ),
        True,
    ),
    (
        "tar-hardlink",
        lambda p: _tar_with(p, _tinfo("LungSegDB/h.TIF", tarfile.LNKTYPE, "/etc/passwd")),
        True,
    ),
    ("tar-device", lambda p: _tar_with(p, _tinfo("LungSegDB/dev", tarfile.CHRTYPE)), True),
    ("tar-bomb-ratio", lambda p: _tar_with(p, _tinfo("LungSegDB/big.TIF"), bytes(100 << 20)), True),
]


@pytest.mark.parametrize(("case", "build", "unsafe"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_or_broken_archive_is_exit_4_and_leaves_nothing(
    tmp_path, capsys, case, build, unsafe
):
    archive = build(tmp_path)
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 4
    doc = json_doc(capsys)
    assert doc["ok"] is False
    assert doc["error"]["kind"] == ("unsafe-archive" if unsafe else "bad-archive")
    assert not (data / "LungSegDB").exists()
    assert not (data / "LungSegDB.sha256").exists()
    assert debris(data) == []
    assert not (tmp_path / "evil.TIF").exists()


def test_hostile_zip_is_refused_before_anything_is_created(tmp_path):
    archive = _zip_with(tmp_path, lambda zf: zf.writestr("../evil.TIF", b"x"))
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 4
    assert not data.exists()  # not even the state folder or the lock


def test_a_hostile_archive_does_not_touch_an_existing_tree(tmp_path):
    good = make_zip(tmp_path / "good.zip", tree(), prefix="LungSegDB/")
    data = tmp_path / "data"
    assert extract_cli(good, data) == 0
    before = read_tree(data / "LungSegDB")
    bad = _tar_with(tmp_path, _tinfo("LungSegDB/zz/../../../evil.TIF"), b"x")
    assert extract_cli(bad, data, "--force") == 4
    assert read_tree(data / "LungSegDB") == before
    assert debris(data) == []


@pytest.mark.parametrize(
    ("env", "value"), [("LUNGSEGDB_MAX_FILES", "5"), ("LUNGSEGDB_MAX_BYTES", "1000")]
)
def test_caps_from_the_environment(tmp_path, monkeypatch, capsys, env, value):
    monkeypatch.setenv(env, value)
    archive = make_zip(tmp_path / "a.zip", tree(), prefix="LungSegDB/")
    assert extract_cli(archive, tmp_path / "data") == 4
    assert env in capsys.readouterr().err


def test_malformed_cap_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEGDB_MAX_RATIO", "lots")
    archive = make_zip(tmp_path / "a.zip", tree(), prefix="LungSegDB/")
    assert extract_cli(archive, tmp_path / "data") == 2


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"<!DOCTYPE html><html><title>Google Drive - Virus scan warning</title>", "HTML"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
        (b"", "empty"),
    ],
)
def test_not_an_archive_names_what_it_is(tmp_path, capsys, content, says):
    path = tmp_path / "LungSegDB.zip"
    path.write_bytes(content)
    assert extract_cli(path, tmp_path / "data") == 4
    assert says in capsys.readouterr().err


def test_disk_full_is_exit_5_with_numbers(tmp_path, monkeypatch, capsys):
    from lungsegdb_cli.utils import fsutil

    monkeypatch.setattr(fsutil, "free_bytes", lambda path: 1000)
    archive = make_zip(tmp_path / "a.zip", tree(), prefix="LungSegDB/")
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 5
    assert "free" in capsys.readouterr().err
    assert not (data / "LungSegDB").exists()
    assert debris(data) == []


# ---------------------------------------------------------------------------------------------
# Idempotence, --force, the manifest
# ---------------------------------------------------------------------------------------------
def test_second_run_is_a_fast_no_op_and_force_replaces(tmp_path, capsys):
    files = tree()
    archive = make_zip(tmp_path / "a.zip", files, prefix="LungSegDB/")
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 0
    capsys.readouterr()
    target = data / "LungSegDB" / "raw data" / "V1" / "CT_Images" / "000.TIF"
    inode = target.stat().st_ino
    good = archive.read_bytes()
    archive.write_bytes(good[:4] + bytes(len(good) - 4))  # unreadable past its magic bytes:
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 0
    archive.write_bytes(good)  # ... so the no-op re-run did not open the archive
    doc = json_doc(capsys)
    assert doc["already"] is True and doc["files"] == len(files)
    assert target.stat().st_ino == inode  # untouched

    # --force extracts again (new files), same content
    assert (
        run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json", "--force"])
        == 0
    )
    doc = json_doc(capsys)
    assert doc["already"] is False and doc["replaced"] is True
    assert target.stat().st_ino != inode
    assert read_tree(data / "LungSegDB") == files
    assert debris(data) == []


def test_a_damaged_tree_is_repaired_without_force(tmp_path):
    files = tree()
    archive = make_zip(tmp_path / "a.zip", files, prefix="LungSegDB/")
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 0
    (data / "LungSegDB" / "raw data" / "V2" / "CT_Masks" / "001.TIF").write_bytes(b"short")
    (data / "LungSegDB" / "raw data" / "V1" / "CT_Masks" / "000.TIF").unlink()
    assert extract_cli(archive, data) == 0
    assert read_tree(data / "LungSegDB") == files


def test_manifest_passes_coreutils_sha256sum(tmp_path):
    files = tree()
    files["raw data/V1/CT_Images/with space.TIF"] = b"II*\x00 spaced"
    archive = make_zip(tmp_path / "a.zip", files, prefix="LungSegDB/")
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 0
    proc = subprocess.run(
        ["sha256sum", "-c", "--strict", "../LungSegDB.sha256"],
        cwd=data / "LungSegDB",
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": OK") == len(files)
    sizes = manifest.read_sizes(resolve(data))
    assert sizes == {k: len(v) for k, v in files.items()}


def test_big_member_spans_many_chunks(tmp_path):
    """Members larger than the 1 MiB chunk (stored and deflated) come out byte-identical."""
    big = random.Random(466).randbytes(3 << 20) + bytes(2 << 20)
    files = {"raw data/V1/CT_Images/big.TIF": big, "raw data/V1/CT_Masks/big.TIF": big[::-1]}
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("raw data/V1/CT_Images/big.TIF", big, zipfile.ZIP_STORED)
        zf.writestr("raw data/V1/CT_Masks/big.TIF", big[::-1], zipfile.ZIP_DEFLATED)
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 0
    assert read_tree(data / "LungSegDB") == files


# ---------------------------------------------------------------------------------------------
# Interruptions: the old tree survives, no debris after the next run
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
@pytest.mark.parametrize("exc", [KeyboardInterrupt(), ArchiveError("injected")])
def test_interruption_mid_way_keeps_the_old_tree(tmp_path, fmt, exc):
    old_files = tree(pairs=3)
    new_files = {k: v[::-1] for k, v in tree(pairs=5).items()}
    data = tmp_path / "data"
    paths = resolve(data)
    first = make_zip(tmp_path / "old.zip", old_files, prefix="LungSegDB/")
    ex.extract_archive(paths, first)
    manifest_before = paths.manifest.read_text()
    if fmt == "zip":
        second = make_zip(tmp_path / "new.zip", new_files)
    else:
        second = make_tar(tmp_path / "new.tgz", new_files)
    with pytest.raises(type(exc)):
        ex.extract_archive(
            paths, second, force=True, progress=InterruptingProgress(7, exc, per_call=True)
        )
    assert read_tree(data / "LungSegDB") == old_files
    assert paths.manifest.read_text() == manifest_before
    assert debris(data) == []


def test_ctrl_c_through_the_cli_is_exit_130(tmp_path, monkeypatch, capsys):
    archive = make_zip(tmp_path / "a.zip", tree(), prefix="LungSegDB/")
    from lungsegdb_cli.archive import formats as archive_formats

    real = archive_formats.ZipReader.chunks
    calls = {"n": 0}

    def flaky(self, member):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, member)

    monkeypatch.setattr(archive_formats.ZipReader, "chunks", flaky)
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 130
    assert not (data / "LungSegDB").exists()
    assert debris(data) == []


_SLOW_CHILD = """
import sys, time
from lungsegdb_cli.archive import extract_write as _extract_write
real = _extract_write._write_file
count = [0]
def slow(path, chunks, cancel):
    count[0] += 1
    if count[0] > 6:
        time.sleep(30)
    return real(path, chunks, cancel)
_extract_write._write_file = slow
from lungsegdb_cli.cli.app import run
sys.exit(run(sys.argv[1:]))
"""


def test_sigkill_mid_extraction_keeps_the_old_tree_and_the_next_run_cleans_up(tmp_path):
    old_files = tree(pairs=2)
    data = tmp_path / "data"
    assert extract_cli(make_zip(tmp_path / "old.zip", old_files, prefix="LungSegDB/"), data) == 0
    manifest_before = (data / "LungSegDB.sha256").read_text()
    new = make_zip(tmp_path / "new.zip", {k: v[::-1] for k, v in tree(pairs=4).items()})
    argv = [sys.executable, "-c", _SLOW_CHILD, "extract", "--archive", str(new)]
    argv += ["--data-dir", str(data), "--force", "--quiet"]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            staged = [p for p in data.glob(".LungSegDB.staging-*")]
            if staged and sum(1 for p in staged[0].rglob("*.TIF")) >= 4:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the child never staged files")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert read_tree(data / "LungSegDB") == old_files
    assert (data / "LungSegDB.sha256").read_text() == manifest_before
    assert debris(data) != []  # a killed process cannot clean up after itself ...
    paths = resolve(data)
    result = ex.extract_archive(paths, tmp_path / "old.zip")
    assert result.already is True  # ... the next run does, and the tree is still intact
    assert debris(data) == []


def test_a_tree_moved_aside_by_a_killed_swap_is_put_back(tmp_path):
    files = tree()
    archive = make_zip(tmp_path / "a.zip", files, prefix="LungSegDB/")
    data = tmp_path / "data"
    assert extract_cli(archive, data) == 0
    os.rename(data / "LungSegDB", data / ".LungSegDB.old-123-deadbeef")
    (data / ".LungSegDB.staging-123-cafe").mkdir()
    result = ex.extract_archive(resolve(data), archive)
    assert result.already is True
    assert read_tree(data / "LungSegDB") == files
    assert debris(data) == []


def test_errors_carry_context_for_json(tmp_path):
    archive = _zip_with(tmp_path, _zip_symlink)
    with pytest.raises(UnsafeArchiveError) as info:
        ex.extract_archive(resolve(tmp_path / "data"), archive)
    assert info.value.context["member"].endswith("link.TIF")


# ---------------------------------------------------------------------------------------------
# Which archive, when --archive is not given
# ---------------------------------------------------------------------------------------------
def test_uses_the_archive_recorded_in_the_provenance(tmp_path, capsys):
    from lungsegdb_cli.state import provenance

    archive = make_zip(tmp_path / "elsewhere.zip", tree(), prefix="LungSegDB/")
    data = tmp_path / "data"
    paths = resolve(data)
    paths.ensure_state_dir()
    provenance.write(paths.provenance, {"path": str(archive)})
    assert run(["extract", "--data-dir", str(data), "--json"]) == 0
    assert json_doc(capsys)["archive"] == str(archive)


def test_uses_the_single_archive_in_downloads(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "downloads").mkdir(parents=True)
    archive = make_zip(data / "downloads" / "x.zip", tree(), prefix="LungSegDB/")
    (data / "downloads" / "y.zip.part").write_bytes(b"partial")
    assert run(["extract", "--data-dir", str(data), "--json"]) == 0
    assert json_doc(capsys)["archive"] == str(archive)


@pytest.mark.parametrize("n", [0, 2])
def test_nothing_or_several_to_choose_from_is_a_usage_error(tmp_path, capsys, n):
    data = tmp_path / "data"
    (data / "downloads").mkdir(parents=True)
    for i in range(n):
        (data / "downloads" / f"{i}.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    assert run(["extract", "--data-dir", str(data)]) == 2
    assert "--archive" in capsys.readouterr().err


def test_missing_archive_path_is_a_usage_error(tmp_path):
    assert extract_cli(tmp_path / "nope.zip", tmp_path / "data") == 2


def test_human_output_and_progress(tmp_path, capsys):
    files = tree()
    archive = make_zip(tmp_path / "a.zip", files, prefix="wrap/", extra=_with_junk)
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data)]) == 0
    captured = capsys.readouterr()
    assert f"Extracted {len(files)} files" in captured.out
    assert "wrap/raw data/V1/CT_Images -> raw data/V1/CT_Images" in captured.out
    assert "OS junk" in captured.out
    assert "Extracting" in captured.err  # plain progress lines on stderr (not a terminal)
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data)]) == 0
    assert "Already extracted" in capsys.readouterr().out


def test_workers_do_not_change_the_result(tmp_path):
    files = tree(pairs=6)
    archive = make_zip(tmp_path / "a.zip", files)
    results = []
    for workers in (1, 2, 4):
        data = tmp_path / f"d{workers}"
        ex.extract_archive(resolve(data), archive, workers=workers)
        results.append((read_tree(data / "LungSegDB"), (data / "LungSegDB.sha256").read_text()))
    assert results[0] == results[1] == results[2]
    assert results[0][0] == files


def test_a_symlinked_tree_is_replaced_without_touching_its_target(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "raw data" / "V1" / "CT_Images").mkdir(parents=True)
    (elsewhere / "raw data" / "V1" / "CT_Images" / "keep.TIF").write_bytes(b"mine")
    data = tmp_path / "data"
    data.mkdir()
    (data / "LungSegDB").symlink_to(elsewhere, target_is_directory=True)
    files = tree()
    archive = make_zip(tmp_path / "a.zip", files)
    assert extract_cli(archive, data, "--force") == 0
    assert not (data / "LungSegDB").is_symlink()
    assert read_tree(data / "LungSegDB") == files
    assert (elsewhere / "raw data" / "V1" / "CT_Images" / "keep.TIF").read_bytes() == b"mine"
    assert debris(data) == []


@pytest.mark.parametrize("case", ["symlink", "truncated"])
def test_hostile_or_broken_7z(tmp_path, capsys, case):
    py7zr = pytest.importorskip("py7zr")
    src = tmp_path / "src" / "LungSegDB"
    for name, content in tree(pairs=1).items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(content)
    if case == "symlink":
        (src / "raw data" / "V1" / "CT_Images" / "link.TIF").symlink_to("/etc/passwd")
    archive = tmp_path / "a.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.writeall(src, "LungSegDB")
    if case == "truncated":
        archive.write_bytes(archive.read_bytes()[:-40])
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 4
    kind = json_doc(capsys)["error"]["kind"]
    assert kind == ("unsafe-archive" if case == "symlink" else "bad-archive")
    assert not (data / "LungSegDB").exists()
    assert debris(data) == []


def test_an_archive_inside_the_tree_is_not_destroyed(tmp_path):
    data = tmp_path / "data"
    archive = make_zip(tmp_path / "a.zip", tree())
    assert extract_cli(archive, data) == 0
    inside = data / "LungSegDB" / "copy.zip"
    inside.write_bytes(archive.read_bytes())
    assert extract_cli(inside, data, "--force") == 2
    assert inside.is_file()


# ---------------------------------------------------------------------------------------------
# Robustness: caps that cannot be switched off, names the file system refuses
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("LUNGSEGDB_MAX_RATIO", "nan"),
        ("LUNGSEGDB_MAX_RATIO", "inf"),
        ("LUNGSEGDB_MAX_BYTES", "inf"),
        ("LUNGSEGDB_MAX_BYTES", "nan"),
        ("LUNGSEGDB_MAX_FILES", "-1"),
    ],
)
def test_a_non_finite_cap_is_a_usage_error_and_the_bomb_is_not_extracted(
    tmp_path, monkeypatch, capsys, env, value
):
    monkeypatch.setenv(env, value)
    data = tmp_path / "data"
    assert extract_cli(_bomb(tmp_path), data) == 2
    err = capsys.readouterr().err
    assert env in err and repr(value) in err and "Traceback" not in err
    assert not (data / "LungSegDB").exists()


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_a_member_name_too_long_for_the_file_system_is_exit_4_naming_it(tmp_path, capsys, fmt):
    name = "x" * 300 + ".TIF"  # NAME_MAX is 255 bytes on common file systems
    files = {**tree(pairs=1), f"raw data/V1/CT_Images/{name}": b"II*\x00abc"}
    if fmt == "zip":
        archive = make_zip(tmp_path / "long.zip", files, prefix="LungSegDB/")
    else:
        archive = make_tar(tmp_path / "long.tar.gz", files, prefix="LungSegDB/")
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 4
    doc = json_doc(capsys)
    assert doc["error"]["kind"] == "bad-archive"
    assert name in doc["error"]["message"] and "too long" in doc["error"]["message"]
    assert not (data / "LungSegDB").exists()
    assert debris(data) == []


def test_extract_again_after_a_file_given_by_hand_has_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/extract.md's session: ``extract --archive FILE``, then ``extract`` alone: the tree
    is complete, so nothing to do (exit 0, no archive named); once the tree is not complete
    there is nothing to extract it from (exit 2), and ``--force`` has no archive either."""
    import lungsegdb_cli as L

    made = L.synth(tmp_path / "s", pairs=1, like_kaggle=True)
    data = str(tmp_path / "d")
    assert run(["extract", "-q", "--archive", str(made.archive.path), "--data-dir", data]) == 0
    capsys.readouterr()
    assert run(["extract", "--data-dir", data]) == 0
    assert capsys.readouterr().out.startswith("Already extracted: 8 files")
    assert run(["extract", "--json", "--data-dir", data]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["already"] is True and doc["archive"] is None and doc["files"] == 8
    assert run(["extract", "-q", "--force", "--data-dir", data]) == 2
    victim = next((tmp_path / "d" / "LungSegDB" / "raw data" / "V1" / "CT_Images").iterdir())
    victim.unlink()
    assert run(["extract", "-q", "--data-dir", data]) == 2
    assert "No archive to extract" in capsys.readouterr().err


def test_an_old_tree_the_commit_cannot_delete_is_named(tmp_path: Path) -> None:
    """Audit H6, 6: ``extract --force`` over a read-only tree moves it aside and cannot delete
    it: a full old copy stays (``.LungSegDB.old-<txid>``), which the run now names on stderr
    (exit 0: the new tree is in place) and ``clean`` removes once it can. Run as a user the
    permission bits bind (as root: without CAP_DAC_OVERRIDE, by setpriv)."""
    import shutil

    import lungsegdb_cli as L

    made = L.synth(tmp_path / "s", pairs=1)
    data = tmp_path / "d"
    L.extract(data, archive=made.archive.path)
    folders = [p for p in (data / "LungSegDB").rglob("*") if p.is_dir()]
    cmd = [sys.executable, "-m", "lungsegdb_cli", "extract", "--force", "--data-dir", str(data)]
    cmd += ["--archive", str(made.archive.path)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: permission bits are not enforced")
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override", *cmd]
    for folder in folders:
        folder.chmod(0o555)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if os.geteuid() == 0 and "setpriv" in proc.stderr:
            pytest.skip(f"setpriv refused here: {proc.stderr.strip()}")
        assert proc.returncode == 0, proc.stderr
        old = [p for p in data.iterdir() if p.name.startswith(".LungSegDB.old-")]
        assert old and "could not remove the old copy" in proc.stderr
        assert str(old[0]) in proc.stderr
    finally:
        for folder in [p for p in data.rglob("*") if p.is_dir()]:
            folder.chmod(0o755)
    assert L.verify(data).ok
