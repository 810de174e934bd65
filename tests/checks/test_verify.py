"""verify: archive and tree against the pin/provenance and the manifest; exit codes; output."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.fakes import RecordingProgress, finishes

from lungsegdb_cli import (
    errors,
)

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import manifest, verify
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.state import provenance
from lungsegdb_cli.utils import hashing

IMG = "preprocessed data/V1/CT_Images/0001.TIF"
MASK = "raw data/V2/CT_Masks/0002.TIF"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _bytes(rel: str, size: int) -> bytes:
    seed = hashlib.sha256(rel.encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def make_tree(root: Path, per_leaf: int = 2) -> paths.DataPaths:
    """A small tree in the documented layout (names with spaces), with its manifest."""
    ds = root / dataset.DATASET_DIRNAME
    for n, leaf in enumerate(dataset.LEAF_DIRS):
        for i in range(1, per_leaf + 1):
            rel = f"{leaf}/{i:04d}.TIF"
            _write(ds / rel, _bytes(rel, 1000 + 997 * n + 13 * i))
    p = paths.resolve(root)
    manifest.write(p, manifest.entries_of(p.dataset_dir))
    return p


def keep_archive(p: paths.DataPaths, data: bytes = b"PK\x03\x04 fake archive " * 5000) -> Path:
    arch = p.downloads_dir / "LungSegDB.zip"
    _write(arch, data)
    provenance.write(
        p.provenance,
        {
            "path": str(arch),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "source": "test",
        },
    )
    return arch


@pytest.fixture
def tree(tmp_path: Path) -> paths.DataPaths:
    return make_tree(tmp_path / "data")


def _verify_json(
    capsys: pytest.CaptureFixture[str], root: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = run(["verify", "--data-dir", str(root), "--json", "--quiet", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


# ---------------------------------------------------------------------------------------------
def test_intact_tree_passes_with_one_line(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["verify", "--data-dir", str(tree.root), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("OK: 16 files (") and "match the manifest" in lines[0]

    code, doc = _verify_json(capsys, tree.root)
    assert code == 0
    assert doc["ok"] is True and doc["archive"] is None
    assert doc["files"] == {
        "checked": 16,
        "ok": True,
        "missing": [],
        "modified": [],
        "extra": [],
        "symlinks": [],
        "not_regular": [],
    }
    assert doc["bytes"] == sum(p.stat().st_size for p in tree.dataset_dir.rglob("*.TIF"))


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))


def _truncate(p: Path) -> None:
    with open(p, "r+b") as fh:
        fh.truncate(10)


def _add(p: Path) -> None:
    _write(p.parent / "new file.TIF", b"not in the manifest")


MUTATIONS: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("flip-one-byte", _flip, "modified", IMG),
    ("truncate", _truncate, "modified", MASK),
    ("append", lambda p: p.write_bytes(p.read_bytes() + b"\0"), "modified", IMG),
    ("delete", lambda p: p.unlink(), "missing", MASK),
    ("add", _add, "extra", "raw data/V2/CT_Masks/new file.TIF"),
    ("replace-by-folder", lambda p: (p.unlink(), p.mkdir()), "missing", IMG),
]


@pytest.mark.parametrize(
    ("name", "mutate", "kind", "rel"), MUTATIONS, ids=[m[0] for m in MUTATIONS]
)
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_each_change_fails_and_names_the_file(
    tree: paths.DataPaths,
    capsys: pytest.CaptureFixture[str],
    name: str,
    mutate: Callable[[Path], None],
    kind: str,
    rel: str,
    quick: bool,
) -> None:
    target = tree.dataset_dir / (rel if kind != "extra" else MASK)
    mutate(target)
    code, doc = _verify_json(capsys, tree.root, *(["--quick"] if quick else []))
    if quick and name == "flip-one-byte":
        # documented: --quick compares sizes only, a same-size change goes unnoticed
        assert code == 0 and doc["ok"] is True
        return
    assert code == 1
    assert doc["ok"] is False and doc["quick"] is quick
    files = doc["files"]
    assert files[kind] == [rel]
    assert [files[k] for k in ("missing", "modified", "extra") if k != kind] == [[], []]

    # the human table names the same file
    run(["verify", "--data-dir", str(tree.root), "--quiet", *(["--quick"] if quick else [])])
    out = capsys.readouterr().out
    assert out.startswith("FAILED")
    assert any(line.split()[:1] == [kind] and rel in line for line in out.splitlines())


def test_tree_folder_gone_means_everything_missing(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(tree.dataset_dir)
    code, doc = _verify_json(capsys, tree.root)
    assert code == 1
    assert len(doc["files"]["missing"]) == doc["files"]["checked"] == 16


JUNK = [
    ".DS_Store",
    "raw data/V1/CT_Images/._0001.TIF",
    "raw data/Thumbs.db",
    "__MACOSX/raw data/x.TIF",
    "preprocessed data/desktop.ini",
]


@pytest.mark.parametrize("quick", [False, True])
def test_os_junk_is_never_extra(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str], quick: bool
) -> None:
    for rel in JUNK:
        _write(tree.dataset_dir / rel, b"junk")
    code, doc = _verify_json(capsys, tree.root, *(["--quick"] if quick else []))
    assert code == 0, doc
    assert doc["files"]["extra"] == []


def test_missing_manifest_is_exit_3_with_how_to_get_one(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    tree.manifest.unlink()
    code, doc = _verify_json(capsys, tree.root)
    assert code == 3
    assert doc["ok"] is False
    assert doc["error"]["kind"] == "nothing-to-verify"
    assert "extract --force" in doc["error"]["hint"]

    code = run(["verify", "--data-dir", str(tree.root)])
    err = capsys.readouterr().err
    assert code == 3
    assert "No manifest" in err and "lungsegdb extract --force" in err


def test_empty_data_dir_is_exit_3_and_nonexistent_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["verify", "--data-dir", str(tmp_path)]) == 3
    assert "lungsegdb download" in capsys.readouterr().err
    assert run(["verify", "--data-dir", str(tmp_path / "nope")]) == 2


def test_unreadable_file_is_exit_5(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = hashing.hash_file

    def deny(path: Any, **kw: Any) -> tuple[str, int]:
        if str(path).endswith(IMG):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, **kw)

    monkeypatch.setattr(hashing, "hash_file", deny)
    code, doc = _verify_json(capsys, tree.root)
    assert code == 5
    assert "Permission denied" in doc["error"]["message"] and IMG in doc["error"]["message"]
    # the hashing threads were stopped and joined, not left running
    assert not [t for t in threading.enumerate() if t.name.startswith("lungsegdb-hash")]


# ---------------------------------------------------------------------------------------------
# The archive
# ---------------------------------------------------------------------------------------------
def test_kept_archive_checked_against_provenance(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    arch = keep_archive(tree)
    want = hashlib.sha256(arch.read_bytes()).hexdigest()
    code, doc = _verify_json(capsys, tree.root)
    assert code == 0
    assert doc["archive"]["sha256"] == doc["archive"]["expected"] == want
    assert doc["archive"]["ok"] is True and doc["archive"]["source"] == "provenance"
    run(["verify", "--data-dir", str(tree.root), "--quiet"])
    out = capsys.readouterr().out
    assert "matches the recorded checksum" in out and want in out


@pytest.mark.parametrize("quick", [False, True])
def test_replaced_archive_fails_and_names_it(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str], quick: bool
) -> None:
    arch = keep_archive(tree)
    recorded = hashlib.sha256(arch.read_bytes()).hexdigest()
    arch.write_bytes(b"a different archive")  # a different size, so --quick sees it too
    code, doc = _verify_json(capsys, tree.root, *(["--quick"] if quick else []))
    assert code == 1
    a = doc["archive"]
    assert a["ok"] is False and a["path"] == str(arch) and a["expected"] == recorded
    assert a["sha256"] == (None if quick else hashlib.sha256(b"a different archive").hexdigest())
    assert doc["files"]["ok"] is True
    run(["verify", "--data-dir", str(tree.root), "--quiet", *(["--quick"] if quick else [])])
    out = capsys.readouterr().out
    assert "archive differs" in out and str(arch) in out


def test_pin_overrides_provenance(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arch = keep_archive(tree)
    actual = hashlib.sha256(arch.read_bytes()).hexdigest()
    other = "ab" * 32
    code, doc = _verify_json(capsys, tree.root, "--sha256", actual.upper())
    assert code == 0 and doc["archive"]["source"] == "pin"

    code, doc = _verify_json(capsys, tree.root, "--sha256", other)
    assert code == 1
    assert doc["archive"]["expected"] == other and doc["archive"]["sha256"] == actual

    monkeypatch.setenv("LUNGSEGDB_SHA256", other)
    code, doc = _verify_json(capsys, tree.root)
    assert code == 1 and doc["archive"]["expected"] == other

    monkeypatch.delenv("LUNGSEGDB_SHA256")
    assert run(["verify", "--data-dir", str(tree.root), "--sha256", "xyz"]) == 2


def test_archive_deleted_is_noted_and_only_a_contradicting_pin_fails(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    arch = keep_archive(tree)
    recorded = hashlib.sha256(arch.read_bytes()).hexdigest()
    arch.unlink()
    code, doc = _verify_json(capsys, tree.root)
    assert code == 0 and doc["archive"]["present"] is False and doc["archive"]["note"]
    code, doc = _verify_json(capsys, tree.root, "--sha256", recorded)
    assert code == 0 and doc["archive"]["present"] is False
    code, doc = _verify_json(capsys, tree.root, "--sha256", "cd" * 32)
    assert code == 1 and doc["archive"]["ok"] is False


def test_info_pin_round_trips_into_verify(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    arch = keep_archive(tree)
    capsys.readouterr()
    assert run(["info", "--json", "--data-dir", str(tree.root)]) == 0
    pin = json.loads(capsys.readouterr().out)["pin"]
    assert pin == hashlib.sha256(arch.read_bytes()).hexdigest()
    code, doc = _verify_json(capsys, tree.root, "--sha256", pin)
    assert code == 0 and doc["archive"]["source"] == "pin"


def test_archive_only_without_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = paths.resolve(tmp_path)
    keep_archive(p)
    code, doc = _verify_json(capsys, tmp_path)
    assert code == 0 and doc["archive"]["ok"] is True and doc["manifest"] is None


# ---------------------------------------------------------------------------------------------
# Interop, layout, output
# ---------------------------------------------------------------------------------------------
TRICKY = ["with  two spaces.TIF", "back\\slash.TIF", "ünïcødé.TIF", "-dash.TIF"]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum not found")
def test_sha256sum_agrees_with_the_manifest(tree: paths.DataPaths) -> None:
    for name in TRICKY:
        _write(tree.dataset_dir / "raw data/V1/CT_Images" / name, name.encode() * 100)
    manifest.write(tree, manifest.entries_of(tree.dataset_dir))
    cmd = ["sha256sum", "-c", "--strict", f"../{tree.manifest.name}"]
    ok = subprocess.run(cmd, cwd=tree.dataset_dir, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(": OK") == 16 + len(TRICKY)
    assert verify.verify(tree).ok

    _flip(tree.dataset_dir / "raw data/V1/CT_Images" / TRICKY[0])
    bad = subprocess.run(cmd, cwd=tree.dataset_dir, capture_output=True, text=True)
    assert bad.returncode == 1 and f"{TRICKY[0]}: FAILED" in bad.stdout
    assert verify.verify(tree).modified == [f"raw data/V1/CT_Images/{TRICKY[0]}"]


def test_data_dir_may_be_the_tree_itself_or_a_symlink(
    tree: paths.DataPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _verify_json(capsys, tree.dataset_dir)
    assert code == 0 and doc["files"]["checked"] == 16

    # a scratch root whose LungSegDB is a symlink to the tree (as the benchmark does)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / dataset.DATASET_DIRNAME).symlink_to(tree.dataset_dir)
    shutil.copy(tree.manifest, scratch / tree.manifest.name)
    code, doc = _verify_json(capsys, scratch, "--quick")
    # no sizes sidecar next to this manifest: --quick checks presence only
    assert code == 0 and doc["files"]["checked"] == 16
    code, doc = _verify_json(capsys, scratch)
    assert code == 0 and doc["bytes"] > 0


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_symlinks_are_never_followed(tree: paths.DataPaths, quick: bool) -> None:
    """A listed file that became a symlink (even to its own, intact content outside the tree)
    is reported, not followed; a symlinked folder is extra, and never walked (no cycle)."""
    target = tree.dataset_dir / IMG
    moved = tree.root / "elsewhere.TIF"
    target.rename(moved)
    target.symlink_to(moved)
    os.symlink("..", tree.dataset_dir / "raw data" / "loop")  # a cycle: never followed
    result = verify.verify(tree, quick=quick)
    assert (result.missing, result.modified, result.extra) == ([], [IMG], ["raw data/loop"])
    assert result.symlinks == [IMG, "raw data/loop"] and result.not_regular == []
    assert ("symlink", IMG) in list(result.problems())
    assert not result.ok


def test_problem_table_is_capped(tree: paths.DataPaths, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(30):
        _write(tree.dataset_dir / f"stray/{i:03d}.TIF", b"x")
    code = run(["verify", "--data-dir", str(tree.root), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("FAILED: 30 extra")
    assert sum(1 for line in out.splitlines() if line.startswith("extra")) == 20
    assert "and 10 more" in out
    code, doc = _verify_json(capsys, tree.root)
    assert len(doc["files"]["extra"]) == 30


def test_progress_counts_bytes(tree: paths.DataPaths) -> None:
    arch = keep_archive(tree)
    rec = RecordingProgress()
    result = verify.verify(tree, progress=rec, workers=2)
    total = result.bytes + arch.stat().st_size
    assert rec.calls == [("start", (total, "B")), ("done", None)]
    assert rec.advanced == total


def test_library_result_and_errors(tree: paths.DataPaths) -> None:
    (tree.dataset_dir / IMG).unlink()
    r = verify.verify(tree, quick=True)
    assert (r.ok, r.missing, r.checked, r.quick) == (False, [IMG], 16, True)
    assert list(r.problems()) == [("missing", IMG)]
    tree.manifest.unlink()
    with pytest.raises(errors.NothingToVerify) as exc:
        verify.verify(tree)
    assert exc.value.exit_code == 3


def test_end_to_end_with_synth_tree(synth_tree: Path, tmp_path: Path) -> None:
    """A copy of the session's synthetic tree, its manifest, then the CLI in a subprocess."""
    root = tmp_path / "data"
    shutil.copytree(synth_tree, root / dataset.DATASET_DIRNAME)
    p = paths.resolve(root)
    manifest.write(p, manifest.entries_of(p.dataset_dir))
    n = sum(1 for f in p.dataset_dir.rglob("*") if f.is_file() and not dataset.is_junk(f.name))
    cmd = [sys.executable, "-m", "lungsegdb_cli", "verify", "--data-dir", str(root), "--json"]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["files"]["checked"] == n
    victim = sorted(p.dataset_dir.rglob("*.TIF"))[0]
    _flip(victim)
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 1
    rel = victim.relative_to(p.dataset_dir).as_posix()
    assert json.loads(bad.stdout)["files"]["modified"] == [rel]


def test_verifies_what_extract_wrote(
    synth_result: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest written by 'lungsegdb extract' is the one verify checks."""
    root = tmp_path / "data"
    archive = Path(synth_result.archive.path)
    assert run(["extract", "--archive", str(archive), "--data-dir", str(root), "--quiet"]) == 0
    code, doc = _verify_json(capsys, root)
    assert code == 0, doc
    assert doc["files"]["checked"] > 0
    victim = sorted((root / dataset.DATASET_DIRNAME).rglob("*.TIF"))[-1]
    victim.write_bytes(victim.read_bytes()[:-1])
    code, doc = _verify_json(capsys, root, "--quick")
    rel = victim.relative_to(root / dataset.DATASET_DIRNAME).as_posix()
    assert code == 1 and doc["files"]["modified"] == [rel]


# ---------------------------------------------------------------------------------------------
# Hostile trees and manifests: only regular files are read, nothing outside the tree
# ---------------------------------------------------------------------------------------------
def _to_fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


def _to_zero_link(p: Path) -> None:
    p.unlink()
    p.symlink_to("/dev/zero")


def _to_socket(p: Path) -> None:
    """A listening-socket file in place of ``p`` (bound by its bare name from its folder:
    a socket path is limited to ~108 bytes, which pytest's tmp paths exceed)."""
    p.unlink()
    here = os.getcwd()
    os.chdir(p.parent)
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(p.name)
    finally:
        os.chdir(here)


def _to_device(p: Path) -> None:
    """A character device (``/dev/null``'s numbers) in place of ``p``; needs CAP_MKNOD."""
    p.unlink()
    try:
        os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod of a device needs privileges")


HOSTILE = [
    ("fifo", _to_fifo, "not_regular", "not-a-regular-file"),
    ("socket", _to_socket, "not_regular", "not-a-regular-file"),
    ("device", _to_device, "not_regular", "not-a-regular-file"),
    ("link-to-dev-zero", _to_zero_link, "symlinks", "symlink"),
]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize(("name", "mutate", "detail", "kind"), HOSTILE, ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_listed_fifo_or_device_link_is_reported_never_read(
    tree: paths.DataPaths,
    capsys: pytest.CaptureFixture[str],
    name: str,
    mutate: Callable[[Path], None],
    detail: str,
    kind: str,
    quick: bool,
) -> None:
    mutate(tree.dataset_dir / IMG)
    flag = ["--quick"] if quick else []
    code, doc = finishes(lambda: _verify_json(capsys, tree.root, *flag))
    assert code == 1 and doc["ok"] is False
    files = doc["files"]
    assert (files["missing"], files["modified"], files["extra"]) == ([], [IMG], [])
    assert files[detail] == [IMG]
    code = finishes(lambda: run(["verify", "--data-dir", str(tree.root), "--quiet", *flag]))
    out = capsys.readouterr().out
    assert code == 1 and any(
        line.split()[:1] == [kind] and IMG in line for line in out.splitlines()
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_unlisted_fifo_and_links_are_extra_and_never_opened(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str], quick: bool
) -> None:
    fifo = "raw data/V1/CT_Images/9999.TIF"
    link = "raw data/V1/CT_Masks/9999.TIF"
    os.mkfifo(tree.dataset_dir / fifo)
    (tree.dataset_dir / link).symlink_to("/dev/zero")
    code, doc = finishes(lambda: _verify_json(capsys, tree.root, *(["--quick"] * quick)))
    assert code == 1
    files = doc["files"]
    assert (files["missing"], files["modified"]) == ([], [])
    assert files["extra"] == sorted([fifo, link])
    assert (files["not_regular"], files["symlinks"]) == ([fifo], [link])


def _append_line(p: paths.DataPaths, line: bytes) -> int:
    """Append one line to the manifest; its line number."""
    old = p.manifest.read_bytes()
    p.manifest.write_bytes(old + line + b"\n")
    return old.count(b"\n") + 1


SECRET = b"a file outside the tree\n"
SECRET_SHA = hashlib.sha256(SECRET).hexdigest()


def _bad_name(case: str, tree: paths.DataPaths, outside: Path) -> str:
    """A manifest path for ``case`` that designates ``outside/secret.txt`` (or is unusable)."""
    if case == "dotdot":
        return "../outside/secret.txt"
    if case == "deep-dotdot":
        return "raw data/V1/../../../../../../../../.." + str(outside / "secret.txt")
    if case == "absolute":
        return str(outside / "secret.txt")
    if case == "dot":
        return "raw data/./V1/CT_Images/0001.TIF"
    if case == "empty":
        return "raw data//V1/CT_Images/0001.TIF"
    if case == "nul":
        return "raw data/V1/CT_Images/0001.TIF\0"
    if case == "folder-link":  # a symlinked folder inside the tree that leads outside
        (tree.dataset_dir / "raw data/V1/out").symlink_to(
            os.path.relpath(outside, tree.dataset_dir / "raw data/V1")
        )
        return "raw data/V1/out/secret.txt"
    if case == "folder-link-abs":
        (tree.dataset_dir / "raw data/V1/out").symlink_to(outside)
        return "raw data/V1/out/secret.txt"
    raise AssertionError(case)


BAD_NAMES = [
    "dotdot",
    "deep-dotdot",
    "absolute",
    "dot",
    "empty",
    "nul",
    "folder-link",
    "folder-link-abs",
]
#: What sits outside the tree where the line points: the answer must not depend on it.
OUTSIDE_STATES = ["same-content", "other-content", "absent", "fifo"]


def _place_secret(outside: Path, state: str) -> None:
    outside.mkdir(exist_ok=True)
    secret = outside / "secret.txt"
    if state == "same-content":
        secret.write_bytes(SECRET)
    elif state == "other-content":
        secret.write_bytes(b"something else")
    elif state == "fifo":
        os.mkfifo(secret)


def _spy(real: Callable[..., Any], touched: list[str]) -> Callable[..., Any]:
    """``real`` (an ``os`` function taking a path first), recording every path it is given."""

    def spy(path: Any, *a: Any, **kw: Any) -> Any:
        if isinstance(path, (str, bytes, os.PathLike)):
            touched.append(os.fsdecode(path))
        return real(path, *a, **kw)

    return spy


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize("case", BAD_NAMES)
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_manifest_path_outside_the_tree_is_refused_whatever_is_there(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    quick: bool,
) -> None:
    """The same refusal (exit 1, kind manifest-path-outside-tree, line number and path)
    whether the outside file exists, differs, is absent or is a FIFO: no oracle. And nothing
    in the outside folder is ever opened, stat'ed or listed."""
    outcomes = []
    flags = ["--quick"] * quick
    for i, state in enumerate(OUTSIDE_STATES):
        base = tmp_path / str(i)
        p = make_tree(base / "data")
        outside = base / "data" / "outside"
        name = _bad_name(case, p, outside)
        n = _append_line(p, f"{SECRET_SHA}  {name}".encode())
        _place_secret(outside, state)

        touched: list[str] = []
        for fn in ("open", "stat", "lstat", "readlink", "scandir", "listdir"):
            monkeypatch.setattr(os, fn, _spy(getattr(os, fn), touched))
        code, doc = finishes(lambda root=base / "data": _verify_json(capsys, root, *flags))
        monkeypatch.undo()
        assert [t for t in touched if t.startswith(str(p.dataset_dir))], "the spy saw nothing"
        assert not [t for t in touched if t.startswith(str(outside))], (state, touched)
        assert code == 1, (state, doc)
        err = doc["error"]
        assert err["kind"] == "manifest-path-outside-tree" and err["code"] == 1
        assert f"line {n}" in err["message"]
        assert "extract --force" in err["hint"]
        assert err["context"]["line"] == n and err["context"]["path"] == name
        outcomes.append((code, err["kind"], err["context"]["line"]))
        # download/extract's "already complete?" check refuses it too (re-extract)
        assert manifest.intact(p) is None
    assert len(set(outcomes)) == 1


def test_plain_names_with_dots_are_not_refused(tree: paths.DataPaths) -> None:
    """Only whole '.' / '..' components are refused, not names that contain dots."""
    for rel in ("raw data/V1/CT_Images/..0001.TIF", "raw data/V1/CT_Images/0001..TIF"):
        _write(tree.dataset_dir / rel, b"dots")
    manifest.write(tree, manifest.entries_of(tree.dataset_dir))
    assert verify.verify(tree).ok and verify.verify(tree, quick=True).ok
    assert manifest.intact(tree) is not None


def test_in_tree_symlinked_folder_is_followed_inside_only(tree: paths.DataPaths) -> None:
    """A listed file under a symlinked folder that stays inside the tree is found (the link
    itself is an extra symlink); verify never leaves the tree for it."""
    v1 = tree.dataset_dir / "raw data" / "V1"
    (v1 / "CT_Images").rename(v1 / "Images_real")
    (v1 / "CT_Images").symlink_to("Images_real")
    result = verify.verify(tree)
    assert result.missing == [] and result.modified == []
    assert result.symlinks == ["raw data/V1/CT_Images"]
    assert "raw data/V1/CT_Images" in result.extra
    quick = verify.verify(tree, quick=True)
    assert (quick.missing, quick.modified, quick.symlinks) == ([], [], ["raw data/V1/CT_Images"])


CORRUPT_MANIFESTS = [
    ("binary", b"\xff\xfe\x00\x01garbage\x80\x81\n"),
    ("latin-1", "é".encode("latin-1") * 64 + b"  raw data/x.TIF\n"),
    ("fifo", None),
]


@pytest.mark.parametrize(
    ("name", "content"), CORRUPT_MANIFESTS, ids=[c[0] for c in CORRUPT_MANIFESTS]
)
def test_corrupt_manifest_is_a_clear_check_failure(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None
) -> None:
    tree.manifest.unlink()
    if content is None:
        os.mkfifo(tree.manifest)
    else:
        tree.manifest.write_bytes(content)
    for quick in (False, True):
        code, doc = finishes(lambda q=quick: _verify_json(capsys, tree.root, *(["--quick"] * q)))
        assert code == 1 and doc["ok"] is False
        assert doc["error"]["kind"] == "manifest-corrupt"
        assert "lungsegdb extract --force" in doc["error"]["hint"]
    code = finishes(lambda: run(["verify", "--data-dir", str(tree.root)]))
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "corrupt" in err
    assert finishes(lambda: manifest.intact(tree)) is None


BAD_SIDECARS = [
    b'{"files": {"a": "x"}}',
    b'{"files": [1]}',
    b'{"version": 1, "files": {"a": null}}',
    f'{{"version": 1, "files": {{"{IMG}": true}}}}'.encode(),
    f'{{"version": 1, "files": {{"{IMG}": -5}}}}'.encode(),
    f'{{"version": 1, "files": {{"{IMG}": 1.5}}}}'.encode(),
    b"[]",
    b'"files"',
    b"\xff\xfe binary",
    b"[" * 100_000,
]


@pytest.mark.parametrize(
    "content", BAD_SIDECARS, ids=[f"sidecar{i}" for i in range(len(BAD_SIDECARS))]
)
def test_malformed_sizes_sidecar_is_ignored_never_a_traceback(
    tree: paths.DataPaths, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    tree.manifest_sizes.write_bytes(content)
    assert manifest.read_sizes(tree) is None
    # sizes unknown: --quick checks presence only, the full check is unaffected
    for flag in ([], ["--quick"]):
        code, doc = _verify_json(capsys, tree.root, *flag)
        assert code == 0 and doc["ok"] is True, doc
    # and download/extract do not trust the tree as complete: they re-extract
    assert manifest.intact(tree) is None
    (tree.dataset_dir / IMG).unlink()
    code, doc = _verify_json(capsys, tree.root, "--quick")
    assert code == 1 and doc["files"]["missing"] == [IMG]


REFUSED = ["..", ".", "./a", "../a", "a/..", "a/.", "a/../b", "a//b", "a/", "/a", "a\0b", ""]
ALLOWED = ["a", ".a", "a.", "..a", "a..", "a/.b", "a/b..", "a b/c", "...", "a/...", "a/.../b"]


@pytest.mark.parametrize("name", REFUSED + ALLOWED, ids=[repr(n) for n in REFUSED + ALLOWED])
def test_parse_refuses_exactly_paths_that_leave_or_are_not_plain(name: str) -> None:
    digest = "0" * 64
    text = f"{digest}  ok.TIF\n{digest}  {name}\n"
    if name in REFUSED:
        with pytest.raises(manifest.ManifestPathOutsideTree) as exc:
            manifest.parse(text)
        assert exc.value.context["line"] == 2 and exc.value.exit_code == 1
        assert manifest.check_path(name) is not None
    else:
        assert manifest.parse(text) == {"ok.TIF": digest, name: digest}
        assert manifest.check_path(name) is None


def _file_to_outside_link(p: paths.DataPaths) -> None:
    """The listed file moved outside the tree (content intact) and symlinked back."""
    target = p.dataset_dir / IMG
    moved = p.root / "elsewhere.TIF"
    target.rename(moved)
    target.symlink_to(moved)


def _folder_to_outside_link(p: paths.DataPaths) -> None:
    """A leaf folder moved outside the tree (contents intact) and symlinked back."""
    leaf = p.dataset_dir / "raw data/V2/CT_Masks"
    moved = p.root / "masks-elsewhere"
    leaf.rename(moved)
    leaf.symlink_to(moved, target_is_directory=True)


INTACT_CASES: list[tuple[str, Callable[[paths.DataPaths], None] | None, bool]] = [
    ("clean", None, True),
    ("file-link-outside", _file_to_outside_link, False),
    ("folder-link-outside", _folder_to_outside_link, False),
    ("fifo", lambda p: _to_fifo(p.dataset_dir / IMG), False),
    ("sidecar-gone", lambda p: p.manifest_sizes.unlink(), False),
]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize(
    ("name", "mutate", "trusted"), INTACT_CASES, ids=[c[0] for c in INTACT_CASES]
)
def test_intact_trusts_only_regular_files_inside_the_tree(
    tree: paths.DataPaths,
    name: str,
    mutate: Callable[[paths.DataPaths], None] | None,
    trusted: bool,
) -> None:
    """download/extract skip re-extraction only for a tree of regular files inside it."""
    if mutate is not None:
        mutate(tree)
    assert (finishes(lambda: manifest.intact(tree)) is not None) is trusted


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_entries_of_hashes_only_the_regular_files(tmp_path: Path) -> None:
    """manifest.entries_of: what a manifest of this tree lists (junk, symlinks, FIFOs left
    out), with each file's digest and size; nothing is opened but regular files."""
    ds = tmp_path / "LungSegDB"
    _write(ds / "a/1.TIF", b"one")
    _write(ds / "a/b/2.TIF", b"two!")
    _write(ds / "a/.DS_Store", b"junk")
    os.symlink(ds / "a/1.TIF", ds / "a/link.TIF")
    os.mkfifo(ds / "a/fifo.TIF")
    got = finishes(lambda: sorted(manifest.entries_of(ds), key=lambda e: e.path))
    assert got == [
        manifest.Entry("a/1.TIF", hashlib.sha256(b"one").hexdigest(), 3),
        manifest.Entry("a/b/2.TIF", hashlib.sha256(b"two!").hexdigest(), 4),
    ]


@pytest.mark.parametrize("sidecar", ["missing", "corrupt"])
def test_quick_without_a_sizes_record_says_it_checked_presence_only(
    synth_result: Any, tmp_path: Path, sidecar: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Audit V: ``--quick`` with no usable sizes record printed "OK (quick: sizes only): N
    files match the manifest" beside a truncated file. It now says what it checked."""
    import lungsegdb_cli as L
    from lungsegdb_cli.cli.app import run

    L.download(tmp_path, archive=synth_result.archive.path)
    first = sorted((tmp_path / "LungSegDB").rglob("*.TIF"))[0]
    os.truncate(first, 100)
    record = tmp_path / ".lungsegdb" / "manifest-sizes.json"
    if sidecar == "missing":
        record.unlink()
    else:
        record.write_text("{not json")
    got = L.verify(tmp_path, quick=True)
    assert got.quick and not got.sizes_checked and got.to_dict()["sizes_checked"] is False
    assert run(["verify", "--quick", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "presence only" in out and "match the manifest" not in out
    assert not L.verify(tmp_path).ok  # the full check sees it


def test_a_manifest_line_too_long_for_any_file_system_is_a_corrupt_manifest(
    synth_result: Any, tmp_path: Path
) -> None:
    """Audit V: a line naming a 300-byte file name was exit 5 ("choose a shorter
    --data-dir") and the whole path echoed; it is the manifest's fault: exit 1, shortened."""
    import lungsegdb_cli as L

    L.download(tmp_path, archive=synth_result.archive.path)
    with open(tmp_path / "LungSegDB.sha256", "a") as fh:
        fh.write("0" * 64 + "  raw data/V1/CT_Images/" + "a" * 300 + ".TIF\n")
    for quick in (False, True):
        with pytest.raises(L.CheckFailed, match="too long for any file system") as info:
            L.verify(tmp_path, quick=quick)
        assert info.value.exit_code == 1 and len(info.value.message) < 300
