"""validate: each planted defect gives exactly its code on exactly its path; clean is clean."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import validate
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.dataset.card import Group

G = Group("preprocessed data", "V1")
MASK = np.where(np.add.outer(np.arange(32), np.arange(40)) > 30, 255, 0).astype(np.uint8)
IMG = np.arange(32 * 40, dtype=np.uint16).reshape(32, 40)


def linked(tmp_path: Path, tree: Path) -> Path:
    """A data root whose LungSegDB is a symlink to a shared (read-only) tree: the decode
    cache lands in tmp_path, the shared fixture stays untouched."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "LungSegDB").symlink_to(tree, target_is_directory=True)
    return root


def write_pair(
    root: Path, stem: str, img: np.ndarray = IMG, mask: np.ndarray = MASK, group: Group = G
) -> None:
    for folder, arr in ((group.images, img), (group.masks, mask)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(root / folder / f"{stem}.TIF", arr)


def codes(result: validate.ValidateResult) -> set[tuple[str, str]]:
    return {(f.code, f.path) for f in result.findings if f.code != "count-mismatch"}


def test_each_defect_gives_exactly_its_code_on_its_path(tmp_path: Path, synth_defects: Any) -> None:
    result = validate.validate(paths.resolve(linked(tmp_path, Path(synth_defects.tree))))
    planted = {(d.code, d.path) for d in synth_defects.defects if d.code != "junk"}
    assert planted, "synth planted nothing"
    assert codes(result) == planted
    for f in result.findings:
        assert f.severity == validate.CODES[f.code]
        assert not f.path.startswith("/") and "\\" not in f.path
    junk = [d.path for d in synth_defects.defects if d.code == "junk"]
    assert junk and not {f.path for f in result.findings} & set(junk)
    assert not result.ok
    # count-mismatch: one warning per group, on the group folder
    cm = [f for f in result.findings if f.code == "count-mismatch"]
    assert sorted(f.path for f in cm) == sorted(g.label for g in validate.dataset.GROUPS)
    by_group = {(g.variant, g.version): g for g in result.groups}
    assert by_group[("raw data", "V2")].errors == 0
    assert by_group[("preprocessed data", "V1")].errors == 3  # missing x2, duplicate


def test_clean_tree_exit_0_and_only_count_warnings(
    tmp_path: Path, synth_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = linked(tmp_path, synth_tree)
    assert run(["validate", "--data-dir", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["pairs"] == 12
    assert {f["code"] for f in doc["findings"]} == {"count-mismatch"}
    assert all(f["severity"] == "warning" for f in doc["findings"])
    assert {g["convention"] for g in doc["groups"]} == {"0/255"}
    for key in ("variant", "version", "pairs", "errors", "warnings", "convention"):
        assert all(key in g for g in doc["groups"])
    # --strict: the warnings fail the run and are reported as errors
    assert run(["validate", "--data-dir", str(root), "--json", "--strict"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and {f["severity"] for f in doc["findings"]} == {"error"}


def test_human_output_lists_findings_by_code(
    tmp_path: Path, synth_defects: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root = linked(tmp_path, Path(synth_defects.tree))
    assert run(["validate", "--data-dir", str(root), "--quiet"]) == 1
    out = capsys.readouterr().out
    for d in synth_defects.defects:
        if d.code != "junk":
            assert d.code in out and d.path in out
    assert "FAILED" in out


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        # a mask of another size
        (lambda r: write_pair(r, "1", mask=MASK[:16]), {("shape-mismatch", f"{G.masks}/1.TIF")}),
        # a 3-page image
        (
            lambda r: (
                write_pair(r, "1"),
                tifffile.imwrite(
                    r / G.images / "1.TIF", np.stack([IMG, IMG, IMG]), photometric="minisblack"
                ),
            ),
            {("multi-page", f"{G.images}/1.TIF")},
        ),
        # an RGBA mask
        (
            lambda r: write_pair(r, "1", mask=np.dstack([MASK] * 4)),
            {("multi-channel-mask", f"{G.masks}/1.TIF")},
        ),
        # a stray file and OS junk
        (
            lambda r: (
                write_pair(r, "1"),
                (r / G.images / "readme.txt").write_text("x"),
                (r / G.masks / ".DS_Store").write_bytes(b"x"),
                (r / G.masks / "._1.TIF").write_bytes(b"x"),
            ),
            {("unexpected-file", f"{G.images}/readme.txt")},
        ),
        # a PNG named .TIF
        (
            lambda r: (
                write_pair(r, "1"),
                (r / G.masks / "1.TIF").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
            ),
            {("unreadable", f"{G.masks}/1.TIF")},
        ),
        # 0/1 and 0/255 masks: both are fine, the group is "mixed"
        (lambda r: (write_pair(r, "1"), write_pair(r, "2", mask=MASK // 255)), set()),
    ],
    ids=["shape", "multi-page", "rgba-mask", "stray", "png", "mixed"],
)
def test_hand_built_defects(tmp_path: Path, setup: Any, expected: set[tuple[str, str]]) -> None:
    root = tmp_path / "LungSegDB"
    setup(root)
    result = validate.validate(paths.resolve(tmp_path), use_cache=False)
    assert codes(result) == expected
    if not expected:
        assert result.groups[0].convention == "mixed"
        assert result.groups[0].conventions == {"0/1": 1, "0/255": 1}


def test_every_writer_passes(tmp_path: Path) -> None:
    """Pillow (LZW, group4, JPEG image), OpenCV and tifffile files pair and validate clean."""
    import cv2
    from PIL import Image

    root = tmp_path / "LungSegDB"
    (root / G.images).mkdir(parents=True)
    (root / G.masks).mkdir(parents=True)
    grey = (IMG % 256).astype(np.uint8)
    Image.fromarray(grey).save(root / G.images / "a.tif", compression="tiff_lzw")
    Image.fromarray(MASK).convert("1").save(root / G.masks / "a.TIF", compression="group4")
    Image.fromarray(grey).save(root / G.images / "b.TIFF", compression="jpeg")
    cv2.imwrite(str(root / G.masks / "b.tif"), MASK)
    tifffile.imwrite(root / G.images / "c.tif", IMG.astype(np.int16) - 1000, compression="zlib")
    tifffile.imwrite(root / G.masks / "c.tif", MASK > 0, compression="packbits")
    result = validate.validate(paths.resolve(root), use_cache=False)
    assert codes(result) == set()
    assert result.pairs == 3 and result.ok
    assert result.groups[0].conventions == {"0/1": 2, "0/255": 1}


def test_cache_second_run_decodes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "LungSegDB"
    for i in range(3):
        write_pair(root, str(i))
    p = paths.resolve(tmp_path)
    first = validate.validate(p)
    assert (first.decoded, first.cached) == (6, 0)
    second = validate.validate(p)
    assert (second.decoded, second.cached) == (0, 6)
    assert [f.to_dict() for f in second.findings] == [f.to_dict() for f in first.findings]
    # a changed file (new size and mtime) is decoded again, and its finding appears
    tifffile.imwrite(root / G.masks / "1.TIF", MASK[:10])
    st = (root / G.masks / "1.TIF").stat()
    os.utime(root / G.masks / "1.TIF", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = validate.validate(p)
    assert (third.decoded, third.cached) == (1, 5)
    assert codes(third) == {("shape-mismatch", f"{G.masks}/1.TIF")}
    # --no-cache decodes everything
    assert validate.validate(p, use_cache=False).decoded == 6


def test_cache_saved_in_background_is_complete_when_waited_for(tmp_path: Path) -> None:
    from lungsegdb_cli.checks.scancache import ScanCache, cache_file
    from lungsegdb_cli.dataset.tree import FileEntry
    from lungsegdb_cli.tiff.decode import IMAGE, summarize

    root = tmp_path / "LungSegDB"
    write_pair(root, "1")
    p = paths.resolve(tmp_path)
    f = root / G.images / "1.TIF"
    st = f.stat()
    entry = FileEntry(f"{G.images}/1.TIF", st.st_size, st.st_mtime_ns)
    cache = ScanCache.load(p)
    cache.put(entry, summarize(str(f), IMAGE))
    wait = cache.save_in_background({entry.rel}, [G.images])
    assert wait() is True and cache_file(p).is_file()
    again = ScanCache.load(p).get(entry, IMAGE)
    assert again is not None and again == summarize(str(f), IMAGE)
    # nothing new, nothing stale: nothing written
    assert ScanCache.load(p).save_in_background({entry.rel}, [G.images])() is False


@pytest.mark.parametrize(
    "content",
    [b"", b"not gzip at all", b"\x1f\x8b\x08\x00" + b"\x00" * 30, None],
    ids=["empty", "garbage", "bad-deflate", "truncated"],
)
def test_unreadable_cache_is_ignored(tmp_path: Path, content: bytes | None) -> None:
    from lungsegdb_cli.checks.scancache import cache_file

    root = tmp_path / "LungSegDB"
    write_pair(root, "1")
    p = paths.resolve(tmp_path)
    assert validate.validate(p).decoded == 2
    f = cache_file(p)
    f.write_bytes(f.read_bytes()[:40] if content is None else content)
    again = validate.validate(p)
    assert (again.decoded, again.cached) == (2, 0) and codes(again) == set()
    assert validate.validate(p).cached == 2  # rewritten, readable again


def test_cache_is_skipped_when_it_cannot_be_written(tmp_path: Path) -> None:
    root = tmp_path / "LungSegDB"
    write_pair(root, "1")
    p = paths.resolve(tmp_path)
    p.state_dir.write_text("a file where the state folder should be")  # mkdir fails, even as root
    for _ in range(2):
        result = validate.validate(p)
        assert result.decoded == 2 and codes(result) == set()
    assert p.state_dir.read_text().startswith("a file")


def test_pool_and_in_process_agree(tmp_path: Path) -> None:
    root = tmp_path / "LungSegDB"
    rng = np.random.default_rng(0)
    for i in range(40):
        write_pair(root, str(i), img=rng.integers(0, 4000, IMG.shape).astype(np.uint16))
    write_pair(root, "40", mask=MASK[:8])
    p = paths.resolve(tmp_path)
    a = validate.validate(p, use_cache=False, workers=2)
    b = validate.validate(p, use_cache=False, workers=1)
    assert a.to_dict()["findings"] == b.to_dict()["findings"]
    assert codes(a) == {("shape-mismatch", f"{G.masks}/40.TIF")}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--data-dir", "{tmp}/does-not-exist"], 2),
        (["--data-dir", "{tmp}"], 1),
    ],
)
def test_no_tree(
    tmp_path: Path, args: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["validate", *(a.format(tmp=tmp_path) for a in args), "--json"]
    assert run(argv) == code
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"]["code"] == code


# ---------------------------------------------------------------------------------------------
# Hostile files: too-large (declared size over the decode limit), FIFOs
# ---------------------------------------------------------------------------------------------
#: Peak RSS allowed for a CLI run on a hostile tree (the unbounded decoder took 10.5 GB).
RSS_BUDGET = 300 * 1024 * 1024
_MEASURE = """
import json, resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr, "maxrss": peak}))
"""


def run_measured(argv: list[str], **env: str) -> tuple[int, str, str, int]:
    """Run the CLI in a fresh child of a fresh process: ``(exit code, stdout, stderr, peak RSS
    in bytes of the CLI and what it waited for)``. The middle process has no other child, so
    RUSAGE_CHILDREN is the CLI's alone."""
    import subprocess
    import sys

    cmd = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "lungsegdb_cli", *argv]
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **env}, check=True
    )
    doc = json.loads(done.stdout)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return doc["rc"], doc["out"], doc["err"], doc["maxrss"] * scale


def hostile_tree(tmp_path: Path, width: int = 46341, height: int = 46341) -> Path:
    """A one-pair tree whose image is a tiny deflate TIFF declaring width x height uint8."""
    from support.tiffs import hostile_tiff

    root = tmp_path / "LungSegDB"
    write_pair(root, "1")
    (root / G.images / "1.TIF").write_bytes(hostile_tiff(width, height))
    return root


def test_decompression_bomb_is_too_large_in_bounded_memory(tmp_path: Path) -> None:
    """The 46341^2 file (372 KB) drove validate to 10.5 GB and 31 s (the 32768^2 one, 5.3 GB,
    is in tests/tiff/test_tiffinfo.py's table)."""
    side, declared = 46341, "2,147,488,281"
    root = hostile_tree(tmp_path, side, side)
    rc, out, err, peak = run_measured(["validate", "--data-dir", str(root), "--json"])
    assert rc == 1, err
    doc = json.loads(out)
    big = [f for f in doc["findings"] if f["code"] == "too-large"]
    assert [(f["path"], f["severity"]) for f in big] == [(f"{G.images}/1.TIF", "error")]
    assert f"declares {side}x{side}x1 uint8 = {declared} pixel values" in big[0]["message"]
    assert "LUNGSEGDB_MAX_IMAGE_PIXELS" in big[0]["message"]
    assert not [f for f in doc["findings"] if f["code"] in ("unreadable", "shape-mismatch")]
    assert peak < RSS_BUDGET, f"peak RSS {peak / 2**20:.0f} MiB"


def test_too_large_is_reported_again_and_raising_the_limit_decodes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too-large summaries are not cached: every run checks the file against its own limit."""
    root = tmp_path / "LungSegDB"
    write_pair(root, "1")
    write_pair(root, "2", img=np.zeros((8, 8), np.uint16), mask=MASK[-8:, -8:])
    p = paths.resolve(tmp_path)
    monkeypatch.setenv("LUNGSEGDB_MAX_IMAGE_PIXELS", str(IMG.size - 1))
    big = {("too-large", f"{G.images}/1.TIF"), ("too-large", f"{G.masks}/1.TIF")}
    first = validate.validate(p)
    assert codes(first) == big and not first.ok
    second = validate.validate(p)
    assert codes(second) == big
    assert (second.decoded, second.cached) == (2, 2)  # the too-large pair checked again
    monkeypatch.setenv("LUNGSEGDB_MAX_IMAGE_PIXELS", "")  # empty: the default
    third = validate.validate(p)
    assert codes(third) == set() and third.ok and (third.decoded, third.cached) == (2, 2)


def test_the_limit_reaches_the_decode_processes(tmp_path: Path) -> None:
    root = tmp_path / "LungSegDB"
    for i in range(60):
        write_pair(root, str(i))
    p = paths.resolve(tmp_path)
    result = validate.validate(p, use_cache=False, workers=2, max_pixels=IMG.size - 1)
    assert result.decoded == 120
    assert {f.code for f in result.findings} - {"count-mismatch"} == {"too-large"}
    images = [f for f in result.findings if f.code == "too-large" and "CT_Images" in f.path]
    assert len(images) == 60  # every image, wherever it was decoded; masks (32x40 too) also


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "abc", "0"])
def test_bad_max_pixels_env_is_exit_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    write_pair(tmp_path / "LungSegDB", "1")
    monkeypatch.setenv("LUNGSEGDB_MAX_IMAGE_PIXELS", value)
    for command in ("validate", "stats"):
        assert run([command, "--data-dir", str(tmp_path), "--json"]) == 2
        doc = json.loads(capsys.readouterr().out)
        assert doc["error"]["kind"] == "usage" and doc["error"]["code"] == 2
        assert "LUNGSEGDB_MAX_IMAGE_PIXELS" in doc["error"]["message"]
        assert run([command, "--data-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "LUNGSEGDB_MAX_IMAGE_PIXELS" in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_in_the_tree_never_blocks_validate(tmp_path: Path) -> None:
    """A FIFO named like a mask: a finding on its path (the tree scan reports it), never a
    hang. Run in a subprocess so that a hang fails instead of blocking the suite."""
    import subprocess
    import sys

    root = tmp_path / "LungSegDB"
    write_pair(root, "1")
    (root / G.masks / "1.TIF").unlink()
    os.mkfifo(root / G.masks / "1.TIF")
    done = subprocess.run(
        [sys.executable, "-m", "lungsegdb_cli", "validate", "--data-dir", str(root), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert f"{G.masks}/1.TIF" in {f["path"] for f in json.loads(done.stdout)["findings"]}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_decode_pass_never_blocks_on_a_file_turned_fifo(tmp_path: Path) -> None:
    """Listed as a regular file, replaced by a FIFO before the pool decodes it: unreadable, at
    once (in-process decoding is covered in test_tiffinfo)."""
    workers = 2
    import subprocess
    import sys

    root = tmp_path / "LungSegDB"
    (root / G.masks).mkdir(parents=True)
    for i in range(50):
        tifffile.imwrite(root / G.masks / f"{i}.TIF", MASK)
    os.unlink(root / G.masks / "7.TIF")
    os.mkfifo(root / G.masks / "7.TIF")
    code = f"""
import json
from pathlib import Path
from lungsegdb_cli.checks import decodepass, scancache
from lungsegdb_cli.dataset import tree
jobs = [(tree.FileEntry(f"{G.masks}/{{i}}.TIF", 4096, 0), "mask") for i in range(50)]
r = decodepass.decode(Path({str(root)!r}), jobs, cache=scancache.ScanCache(None), workers={workers})
print(json.dumps({{k: s.error for k, s in r.summaries.items() if not s.ok}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == {f"{G.masks}/7.TIF": "not a regular file (a FIFO)"}


# Hostile trees: symlinks and FIFOs are findings; nothing outside the tree is decoded
# ---------------------------------------------------------------------------------------------
def _hostile(tmp_path: Path) -> tuple[Path, Path]:
    """A tree with one clean pair, and valid TIFFs outside it (reachable only by symlinks)."""
    root = tmp_path / "LungSegDB"
    write_pair(root, "1")
    outside = tmp_path / "outside"
    write_pair(outside, "9")  # outside/preprocessed data/V1/CT_{Images,Masks}/9.TIF
    return root, outside


def _link_out(root: Path, outside: Path) -> None:
    (root / G.images / "2.TIF").symlink_to(outside / G.images / "9.TIF")
    (root / G.masks / "2.TIF").symlink_to(outside / G.masks / "9.TIF")


def _link_in(root: Path, outside: Path) -> None:
    (root / G.images / "2.TIF").symlink_to("1.TIF")
    (root / G.masks / "2.TIF").symlink_to("../CT_Masks/1.TIF")


def _dangling(root: Path, outside: Path) -> None:
    (root / G.images / "2.TIF").symlink_to("nothing.TIF")


def _fifo(root: Path, outside: Path) -> None:
    os.mkfifo(root / G.images / "2.TIF")


def _folder_out(root: Path, outside: Path) -> None:
    v2 = root / "preprocessed data" / "V2"
    v2.mkdir(parents=True)
    (v2 / "CT_Images").symlink_to(outside / G.images, target_is_directory=True)


HOSTILE = [
    (
        "link-outside",
        _link_out,
        {("symlink", f"{G.images}/2.TIF", "error"), ("symlink", f"{G.masks}/2.TIF", "error")},
        2,
    ),
    (
        "link-inside",
        _link_in,
        {("symlink", f"{G.images}/2.TIF", "warning"), ("symlink", f"{G.masks}/2.TIF", "warning")},
        4,
    ),
    ("dangling", _dangling, {("symlink", f"{G.images}/2.TIF", "error")}, 2),
    ("fifo", _fifo, {("not-a-regular-file", f"{G.images}/2.TIF", "error")}, 2),
    (
        "leaf-folder-outside",
        _folder_out,
        {("symlink", "preprocessed data/V2/CT_Images/", "error")},
        2,
    ),
]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize(
    ("name", "setup", "expected", "decoded"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_symlinks_and_fifos_are_findings_never_decoded_outside(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    setup: Any,
    expected: set[tuple[str, str, str]],
    decoded: int,
) -> None:
    root, outside = _hostile(tmp_path)
    setup(root, outside)
    result = validate.validate(paths.resolve(tmp_path), use_cache=False, workers=1)
    got = {
        (f.code, f.path, f.severity)
        for f in result.findings
        if f.code in ("symlink", "not-a-regular-file")
    }
    assert got == expected
    # only files inside the tree were decoded (the outside TIFFs would decode fine)
    assert result.decoded == decoded
    assert result.ok is not any(sev == "error" for _, _, sev in expected)
    code = run(["validate", "--data-dir", str(tmp_path), "--json", "--quiet", "--no-cache"])
    doc = json.loads(capsys.readouterr().out)
    assert code == (0 if result.ok else 1)
    assert {(f["code"], f["path"]) for f in doc["findings"]} >= {(c, p) for c, p, _ in expected}


def test_decode_pass_leaves_interpreter_settings_alone(tmp_path: Path) -> None:
    """The collector and the GIL switch interval are the entry point's business
    (``_tuning.decode_switches``): while a pass lists and decodes, both are as the caller set
    them, and the pass still decodes every file."""
    import gc
    import sys

    from lungsegdb_cli.checks import decodepass, scancache
    from lungsegdb_cli.dataset import tree

    root = tmp_path / "LungSegDB"
    (root / G.masks).mkdir(parents=True)
    for i in range(3):
        tifffile.imwrite(root / G.masks / f"{i}.TIF", MASK)
    seen: list[tuple[bool, float]] = []

    def jobs() -> Any:
        for i in range(3):
            seen.append((gc.isenabled(), sys.getswitchinterval()))
            yield tree.FileEntry(f"{G.masks}/{i}.TIF", 4096, 0), "mask"

    before = (gc.isenabled(), sys.getswitchinterval())
    r = decodepass.decode(root, jobs(), cache=scancache.ScanCache(None), workers=1)
    assert seen == [before] * 3
    assert (gc.isenabled(), sys.getswitchinterval()) == before
    assert sorted(r.summaries) == [f"{G.masks}/{i}.TIF" for i in range(3)]
    assert all(s.ok for s in r.summaries.values()) and r.decoded == 3


def test_interrupted_decode_pass_keeps_what_it_decoded(tmp_path: Path) -> None:
    """Ctrl-C after the first chunk: the pass re-raises, the chunk is in the saved cache, and
    the next pass decodes only the rest."""
    from support.fakes import InterruptingProgress, RecordingProgress

    from lungsegdb_cli.checks import decodepass, scancache
    from lungsegdb_cli.dataset import tree

    p = paths.resolve(tmp_path)
    folder = p.dataset_dir / G.masks
    folder.mkdir(parents=True)
    n = decodepass.CHUNK + 4
    for i in range(n):
        tifffile.imwrite(folder / f"{i}.TIF", MASK)

    def jobs() -> list[tuple[tree.FileEntry, str]]:
        out = []
        for i in range(n):
            st = (folder / f"{i}.TIF").stat()
            out.append((tree.FileEntry(f"{G.masks}/{i}.TIF", st.st_size, st.st_mtime_ns), "mask"))
        return out

    with pytest.raises(KeyboardInterrupt):
        decodepass.decode(
            p.dataset_dir,
            jobs(),
            cache=scancache.ScanCache.load(p),
            progress=InterruptingProgress(after=0),
            workers=1,
        )
    again = decodepass.decode(
        p.dataset_dir,
        jobs(),
        cache=scancache.ScanCache.load(p),
        progress=RecordingProgress(),
        workers=1,
    )
    assert (again.cached, again.decoded) == (decodepass.CHUNK, 4)
    assert len(again.summaries) == n and all(s.ok for s in again.summaries.values())
