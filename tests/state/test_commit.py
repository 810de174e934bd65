"""The commit protocol: a crash at every step leaves the old state or the new one.

The crash-point harness runs a command that changes the data dir in a child process with
``LUNGSEGDB_CRASH_AT=N``, which SIGKILLs it at the N-th checkpoint it reaches, for N = 1, 2,
... until the command completes. After each crash it copies the data dir once per command,
runs that command first on its copy (the run that must recover), and checks the invariant
independently of the tool: the tree is exactly the files of the manifest with their digests,
the manifest's record names the archive the tree came from, the provenance names a kept
archive with that checksum, nothing staged or moved aside is left, and the state is the old one
if the crash came before the journal was written and the new one from then on. In the manner
of SQLite's crash tests and the ALICE study of crash consistency.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.fakes import InterruptAt

# internals: exercises cli/app, dataset, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.errors import CheckFailed
from lungsegdb_cli.state import commit, locking, provenance
from lungsegdb_cli.synthetic import make as synth

COMMIT_POINT = "journal written"


@dataclass(frozen=True)
class Archive:
    path: Path
    sha256: str
    files: dict[str, str]  # relative path -> sha256 of the tree it holds


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digests(tree: Path) -> dict[str, str]:
    return {
        p.relative_to(tree).as_posix(): _digest(p)
        for p in sorted(tree.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Archive, Archive]:
    """Two small synthetic archives with different trees (seed 0: 1 pair per group, seed 1:
    2 pairs per group, so the new tree also has files the old one lacks)."""
    out = []
    for seed, pairs in ((0, 1), (1, 2)):
        res = synth.synthesize(tmp_path_factory.mktemp(f"crash-{seed}"), pairs=pairs, seed=seed)
        path = Path(res.archive.path)
        out.append(Archive(path, _digest(path), _tree_digests(Path(res.tree))))
    return out[0], out[1]


def _child(argv: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra, "LUNGSEGDB_SYNC": "0"}
    env.pop("LUNGSEGDB_SHA256", None)
    env.pop("LUNGSEGDB_URL", None)
    cmd = [sys.executable, "-m", "lungsegdb_cli", *argv]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _install(root: Path, archive: Archive) -> None:
    proc = _child(["download", "--data-dir", str(root), "--archive", str(archive.path)], {})
    assert proc.returncode == 0, proc.stderr


def _debris(root: Path) -> list[str]:
    found = []
    for folder in (root, root / ".lungsegdb", root / "downloads"):
        if folder.is_dir():
            found += [n for n in os.listdir(folder) if ".staging-" in n or ".old-" in n]
    return found


def check_invariant(root: Path, old: Archive | None, new: Archive, *, committed: bool) -> None:
    """The data dir is whole: one generation, the one ``committed`` says, nothing left over."""
    p = paths.resolve(root)
    assert not p.journal.exists(), "a journal outlived the run that recovers"
    assert _debris(root) == [], "staging or moved-aside leftovers"
    expected = new if committed or old is None else old
    if not committed and old is None:
        assert not p.dataset_dir.exists() and not p.manifest.exists()
        return
    listed = {}
    for line in p.manifest.read_text().splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    on_disk = _tree_digests(p.dataset_dir)
    assert on_disk == listed, "the tree is not what its manifest lists"
    assert on_disk == expected.files, "the tree is neither wholly old nor wholly new"
    sizes = json.loads(p.manifest_sizes.read_text())
    assert sizes["archive_sha256"] == expected.sha256, "the tree's record names another archive"
    record = provenance.read(p.provenance)
    assert record is not None and record["sha256"] == expected.sha256, "provenance is torn"
    kept = provenance.kept_archive(record, p.root)
    assert kept is not None and _digest(kept) == expected.sha256, "the kept archive is torn"


#: The commands that may be the first to meet a crashed data dir, and what each must say then.
NEXT_RUN: dict[str, Callable[[Path, Archive], list[str]]] = {
    "verify": lambda root, a: ["verify", "--data-dir", str(root), "--quiet"],
    "validate": lambda root, a: ["validate", "--data-dir", str(root), "--quiet"],
    "stats": lambda root, a: ["stats", "--data-dir", str(root), "--quiet"],
    "info": lambda root, a: ["info", "--data-dir", str(root), "--json"],
    "download": lambda root, a: ["download", "--data-dir", str(root), "--offline", "--quiet"],
    "extract": lambda root, a: ["extract", "--data-dir", str(root), "--quiet"],
}


def _points(argv: list[str], root: Path, tmp: Path) -> list[str]:
    """The checkpoints a complete run of ``argv`` passes, in order (from a traced run)."""
    trial = tmp / "trace-run"
    shutil.copytree(root, trial) if root.exists() else None
    trace = tmp / "trace.txt"
    proc = _child([*argv, "--data-dir", str(trial)], {commit.ENV_CRASH_TRACE: str(trace)})
    assert proc.returncode == 0, proc.stderr
    names = [line.split(" ", 1)[1] for line in trace.read_text().splitlines()]
    shutil.rmtree(trial)
    return names


@dataclass(frozen=True)
class Crashes:
    """The data dir as a child left it when killed at each checkpoint of one command."""

    points: list[str]
    dirs: list[Path]  # dirs[n - 1]: killed at checkpoint n (may not exist: nothing made yet)

    def committed(self, n: int) -> bool:
        return self.points.index(COMMIT_POINT) < n


def crash_everywhere(tmp: Path, old: Archive | None, argv: list[str]) -> Crashes:
    base = tmp / "base"
    if old is not None:
        _install(base, old)
    points = _points(argv, base, tmp)
    assert COMMIT_POINT in points and "done" in points
    dirs = []
    for n, point in enumerate(points, start=1):
        crashed = tmp / f"crash-{n}"
        if base.exists():
            shutil.copytree(base, crashed)
        proc = _child([*argv, "--data-dir", str(crashed)], {commit.ENV_CRASH_AT: str(n)})
        assert proc.returncode == -9, f"step {n} ({point}) did not crash: {proc.stderr}"
        dirs.append(crashed)
    return Crashes(points, dirs)


def next_run_holds_invariant(
    crashes: Crashes, name: str, tmp: Path, old: Archive | None, new: Archive
) -> None:
    """Run ``name`` first on a copy of each crashed data dir; check the invariant after it
    and after a pinned download of the new archive (never "complete" over the old tree)."""
    for n, (point, crashed) in enumerate(zip(crashes.points, crashes.dirs, strict=True), start=1):
        copy = tmp / f"next-{n}-{name}"
        if crashed.exists():
            shutil.copytree(crashed, copy)
        code = run(NEXT_RUN[name](copy, new))
        committed = crashes.committed(n)
        if old is None and not committed:
            continue  # nothing was installed before: the readers rightly find nothing
        assert code == 0, f"{name} after a crash at step {n} ({point}) exited {code}"
        check_invariant(copy, old, new, committed=committed)
        pinned = ["download", "--data-dir", str(copy), "--archive", str(new.path)]
        assert run([*pinned, "--sha256", new.sha256, "--quiet"]) == 0
        check_invariant(copy, old, new, committed=True)
        shutil.rmtree(copy)


@pytest.fixture(scope="module")
def forced_download_crashes(
    tmp_path_factory: pytest.TempPathFactory, archives: tuple[Archive, Archive]
) -> Crashes:
    old, new = archives
    argv = ["download", "--force", "--archive", str(new.path), "--quiet"]
    return crash_everywhere(tmp_path_factory.mktemp("forced"), old, argv)


def test_forced_download_passes_every_step_of_the_protocol(forced_download_crashes):
    points = forced_download_crashes.points
    assert {"staging", "extracted", "prepared", COMMIT_POINT, "applied", "done"} <= set(points)
    assert sum(p.startswith("put ") for p in points) >= 4  # tree, manifest, sizes, provenance
    assert sum(p.startswith("moved aside ") for p in points) >= 4


@pytest.mark.parametrize("first", list(NEXT_RUN))
def test_download_force_over_a_tree_killed_at_every_step(
    forced_download_crashes, archives, tmp_path, first
):
    old, new = archives
    next_run_holds_invariant(forced_download_crashes, first, tmp_path, old, new)


def test_extract_force_over_a_tree_crash_at_every_step(tmp_path, archives):
    old, new = archives
    # extract --archive records no provenance: the invariant's "record" is the download's
    argv = ["extract", "--force", "--archive", str(new.path), "--quiet"]
    base = tmp_path / "base"
    _install(base, old)
    points = _points(argv, base, tmp_path)
    for n, point in enumerate(points, start=1):
        crashed = tmp_path / f"crash-{n}"
        shutil.copytree(base, crashed)
        proc = _child([*argv, "--data-dir", str(crashed)], {commit.ENV_CRASH_AT: str(n)})
        assert proc.returncode == -9, f"step {n} ({point}) did not crash"
        for name in ("verify", "extract"):
            copy = tmp_path / f"c{n}-{name}"
            shutil.copytree(crashed, copy)
            assert run(NEXT_RUN[name](copy, new)) == 0, f"{name} after step {n} ({point})"
            p = paths.resolve(copy)
            assert _debris(copy) == [] and not p.journal.exists()
            listed = dict(
                reversed(line.split("  ", 1)) for line in p.manifest.read_text().splitlines()
            )
            on_disk = _tree_digests(p.dataset_dir)
            assert on_disk == listed
            committed = points.index(COMMIT_POINT) < n
            assert on_disk == (new.files if committed else old.files), f"step {n} ({point})"
            shutil.rmtree(copy)
        shutil.rmtree(crashed)


@pytest.fixture(scope="module")
def first_install_crashes(
    tmp_path_factory: pytest.TempPathFactory, archives: tuple[Archive, Archive]
) -> Crashes:
    argv = ["download", "--archive", str(archives[1].path), "--quiet"]
    return crash_everywhere(tmp_path_factory.mktemp("first"), None, argv)


@pytest.mark.parametrize("first", ["verify", "download"])
def test_first_install_killed_at_every_step(first_install_crashes, tmp_path, archives, first):
    next_run_holds_invariant(first_install_crashes, first, tmp_path, None, archives[1])


def test_ctrl_c_at_every_step_leaves_one_whole_generation(tmp_path, archives, monkeypatch):
    """Ctrl-C (KeyboardInterrupt at each checkpoint, in process): exit 130, and the state is
    whole at once -- no recovery needed: before the commit point the old, after it the new."""
    old, new = archives
    monkeypatch.setenv("LUNGSEGDB_SYNC", "0")
    base = tmp_path / "base"
    _install(base, old)
    argv = ["download", "--force", "--archive", str(new.path), "--quiet"]
    points = _points(argv, base, tmp_path)

    try:
        for n, point in enumerate(points, start=1):
            root = tmp_path / f"int-{n}"
            shutil.copytree(base, root)
            commit.set_hook(InterruptAt(n))
            code = run([*argv, "--data-dir", str(root)])
            commit.set_hook(None)
            committed = points.index(COMMIT_POINT) < n
            if point in ("removed old", "done"):
                assert code in (0, 130)
            else:
                assert code == 130, f"step {n} ({point}) exited {code}"
            check_invariant(root, old, new, committed=committed)
            shutil.rmtree(root)
    finally:
        commit.set_hook(None)


# ---------------------------------------------------------------------------------------------
# The record never changes before the tree does (issue: download --force, then a failure)
# ---------------------------------------------------------------------------------------------
def _corrupt_copy(src: Path, dst: Path) -> Path:
    """``src`` with a byte of one member's compressed data flipped: a CRC error on extract."""
    import struct
    import zipfile

    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = max(zf.infolist(), key=lambda i: i.compress_size)
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
    data[at] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def test_failed_forced_download_keeps_the_old_record_and_pin(tmp_path, archives, capsys):
    old, _ = archives
    root = tmp_path / "data"
    _install(root, old)
    bad = _corrupt_copy(old.path, tmp_path / "bad.zip")
    bad_sha = _digest(bad)
    code = run(["download", "--force", "--archive", str(bad), "--data-dir", str(root), "-q"])
    assert code == 4
    capsys.readouterr()
    assert run(["info", "--data-dir", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pin"] == old.sha256 and doc["tree_archive_sha256"] == old.sha256
    assert run(["verify", "--data-dir", str(root), "--sha256", bad_sha, "-q"]) == 1
    assert run(["verify", "--data-dir", str(root), "--sha256", old.sha256, "-q"]) == 0
    # and a download pinned to the bad archive is not "already complete"
    code = run(["download", "--data-dir", str(root), "--sha256", bad_sha, "--offline", "-q"])
    assert code == 3
    check_invariant(root, old, old, committed=True)


def test_unusable_download_is_moved_aside_not_retried_from_a_kept_copy(tmp_path, archives):
    """An archive that fails extraction (exit 4) is never recorded as kept: the next run does
    not extract the same bad bytes again."""
    old, _ = archives
    root = tmp_path / "data"
    bad = _corrupt_copy(old.path, tmp_path / "bad.zip")
    assert run(["download", "--archive", str(bad), "--data-dir", str(root), "-q"]) == 4
    p = paths.resolve(root)
    assert provenance.read(p.provenance) is None and not p.dataset_dir.exists()
    assert run(["download", "--offline", "--data-dir", str(root), "-q"]) == 3


# ---------------------------------------------------------------------------------------------
# Recovery details
# ---------------------------------------------------------------------------------------------
def test_a_corrupt_journal_is_named_not_trusted(tmp_path, archives, capsys):
    old, _ = archives
    root = tmp_path / "data"
    _install(root, old)
    p = paths.resolve(root)
    p.journal.write_bytes(b"\xff\xfe not json")
    assert run(["verify", "--data-dir", str(root)]) == 1
    err = capsys.readouterr().err
    assert "journal" in err and "Traceback" not in err and str(p.journal) in err
    with pytest.raises(CheckFailed):
        commit.read_journal(p)


@pytest.mark.parametrize(
    "op",
    [
        {"op": "put", "final": "../outside", "staged": "x", "aside": "y"},
        {"op": "put", "final": "/etc/passwd", "staged": "x", "aside": "y"},
        {"op": "remove", "final": "LungSegDB", "staged": None, "aside": "a/../../b"},
        {"op": "chmod", "final": "LungSegDB", "staged": None, "aside": "y"},
    ],
    ids=["dotdot", "absolute", "aside-escapes", "unknown-op"],
)
def test_a_journal_never_renames_outside_the_data_dir(tmp_path, op):
    p = paths.resolve(tmp_path)
    p.ensure_state_dir()
    doc = {"version": 1, "txid": "1-ab", "state": "committed", "ops": [op]}
    p.journal.write_text(json.dumps(doc))
    with pytest.raises(CheckFailed):
        commit.recover(p)


def test_a_tree_moved_aside_by_an_older_version_is_put_back(tmp_path, archives):
    old, _ = archives
    root = tmp_path / "data"
    _install(root, old)
    os.rename(root / "LungSegDB", root / ".LungSegDB.old-123-deadbeef")
    assert run(["verify", "--data-dir", str(root), "-q"]) == 0
    assert _tree_digests(root / "LungSegDB") == old.files and _debris(root) == []


def _read_only_run(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run lungsegdb with ``root`` bind-mounted read-only, in a private mount namespace."""
    inner = (
        f'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && '
        f'exec "{sys.executable}" -m lungsegdb_cli "$@"'
    )
    cmd = ["unshare", "-m", "--", "sh", "-c", inner, str(root), *argv, "--data-dir", str(root)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _can_mount_read_only(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--", "sh", "-c", f'mount --bind "{tmp}" "{tmp}"'],
        capture_output=True,
    )
    return probe.returncode == 0


def test_read_only_intact_data_dir_download_and_readers_work(tmp_path, archives):
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs unshare and mount (a private read-only bind mount)")
    old, _ = archives
    root = tmp_path / "data"
    _install(root, old)
    for argv in (["download", "-q"], ["verify", "-q"], ["validate", "-q"], ["info", "--json"]):
        proc = _read_only_run(root, *argv)
        assert proc.returncode == 0, (argv, proc.stderr)
    # a forced download there is the machine refusing (exit 5), with the reason
    proc = _read_only_run(root, "download", "--force", "--archive", str(old.path))
    assert proc.returncode == 5 and "Traceback" not in proc.stderr


def test_writer_lock_busy_in_another_thread_waits(tmp_path):
    """In-process locks are owned by a thread: another thread waits as another process would."""
    import threading

    p = paths.resolve(tmp_path)
    order: list[str] = []
    with locking.writer_lock(p):
        t = threading.Thread(target=lambda: _take_and_note(p, order))
        t.start()
        t.join(0.3)
        assert t.is_alive() and order == []
        order.append("first released")
    t.join(10)
    assert order == ["first released", "second held"]


def _take_and_note(p: paths.DataPaths, order: list[str]) -> None:
    with locking.writer_lock(p):
        order.append("second held")


# ---------------------------------------------------------------------------------------------
# Readers never see a torn tree
# ---------------------------------------------------------------------------------------------
_SWAPPER = """
import sys
from lungsegdb_cli.cli.app import run
archives, root, n = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3])
for i in range(n):
    archive = archives[i % len(archives)]
    code = run(["extract", "--force", "--archive", archive, "--data-dir", root, "--quiet"])
    if code:
        sys.exit(code)
"""


@pytest.mark.parametrize("content", ["identical", "alternating"])
def test_readers_during_swaps_see_one_whole_generation(tmp_path, archives, content):
    """verify and validate while another process swaps trees in again and again -- the same
    tree, or two different ones in turn (where a reader that mixed a manifest with the other
    generation's files would report "modified"): every run sees one whole generation (exit 0).
    """
    old, new = archives
    root = tmp_path / "data"
    _install(root, new)
    swapped = [new] if content == "identical" else [old, new]
    env = {**os.environ, "LUNGSEGDB_SYNC": "0"}
    writer = subprocess.Popen(
        [sys.executable, "-c", _SWAPPER, ",".join(str(a.path) for a in swapped), str(root), "10"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    codes: list[tuple[str, int]] = []

    def verifies() -> int:
        return sum(1 for c in codes if c[0] == "verify")

    try:
        while writer.poll() is None or verifies() < 20:
            codes.append(("verify", run(["verify", "--data-dir", str(root), "--quiet"])))
            if len(codes) % 5 == 0:
                codes.append(("validate", run(["validate", "--data-dir", str(root), "-q"])))
    finally:
        writer.wait(120)
    assert writer.returncode == 0, writer.stderr.read() if writer.stderr else ""
    assert [c for c in codes if c[1] != 0] == []
    assert verifies() >= 20
    p = paths.resolve(root)
    assert _tree_digests(p.dataset_dir) == new.files and _debris(root) == []


def test_no_extract_keeps_the_trees_record_and_a_pin_then_reextracts(tmp_path, archives, capsys):
    """download --no-extract --force of another archive: the archive and its provenance change,
    the tree keeps its own record, so a pin naming the new archive is not "complete" for the
    tree (verify exits 1 naming it) until a download extracts it."""
    old, new = archives
    root = tmp_path / "data"
    _install(root, old)
    assert (
        run(
            [
                "download",
                "--no-extract",
                "--force",
                "--archive",
                str(new.path),
                "--data-dir",
                str(root),
                "-q",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert run(["verify", "--data-dir", str(root), "--sha256", new.sha256, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["tree"]["archive_sha256"] == old.sha256 and doc["tree"]["problem"]
    assert doc["archive"]["ok"] is True  # the kept archive is the pinned one
    assert (
        run(["download", "--data-dir", str(root), "--sha256", new.sha256, "--offline", "-q"]) == 0
    )
    check_invariant(root, old, new, committed=True)
    assert run(["verify", "--data-dir", str(root), "--sha256", new.sha256, "-q"]) == 0


@pytest.mark.parametrize(
    ("state_file", "command", "code"),
    [
        (".lungsegdb/provenance.json", "info", 0),  # shown as unreadable
        (".lungsegdb/provenance.json", "verify", 1),  # a finding, never an OK over it
        (".lungsegdb/manifest-sizes.json", "download", 0),  # offline: re-extracted (kept)
        (".lungsegdb/journal.json", "verify", 1),  # named as corrupt, never trusted
        ("downloads/drive-x.part.json", "download", 0),
    ],
    ids=["provenance-info", "provenance-verify", "sizes-download", "journal", "part-sidecar"],
)
def test_a_fifo_in_place_of_a_state_file_never_hangs(tmp_path, archives, state_file, command, code):
    old, _ = archives
    root = tmp_path / "data"
    _install(root, old)
    target = root / state_file
    target.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(target)
    argv = [command, "--data-dir", str(root), "-q"]
    if command == "download":
        argv.append("--offline")
    proc = _child(argv, {})  # a hang would fail here (timeout), not block the suite
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# Smaller: state that travels with the data dir, records of the wrong type, bad downloads
# ---------------------------------------------------------------------------------------------
def test_a_copied_data_dir_checks_its_own_archive(tmp_path, archives, fake_drive, monkeypatch):
    """The provenance names a downloaded archive relative to the data root: a copy of the data
    dir (a CI cache restored elsewhere) checks the copy's archive, not the original's."""
    old, _ = archives
    fake_drive.mirror["LungSegDB.zip"] = old.path.read_bytes()
    monkeypatch.delenv("LUNGSEGDB_SHA256", raising=False)
    first = tmp_path / "first"
    url = fake_drive.mirror_url("LungSegDB.zip")
    assert run(["download", "--url", url, "--data-dir", str(first), "-q"]) == 0
    record = provenance.read(paths.resolve(first).provenance)
    assert record is not None and record["path"] == "downloads/LungSegDB.zip"
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    (first / "downloads" / "LungSegDB.zip").write_bytes(b"the original, tampered with")
    assert run(["verify", "--data-dir", str(copy), "-q"]) == 0
    assert run(["verify", "--data-dir", str(first), "-q"]) == 1


def test_a_download_killed_after_its_commit_leaves_no_resume_sidecar(
    tmp_path, archives, fake_drive
):
    """The .part becomes the kept archive at the commit, and its resume sidecar goes in the
    same commit: killed at any checkpoint from the journal on, the next run recovers a data
    dir with no sidecar of a partial download that does not exist (info says none)."""
    from support import crashes

    old, _ = archives
    fake_drive.mirror["LungSegDB.zip"] = old.path.read_bytes()
    url = fake_drive.mirror_url("LungSegDB.zip")
    base = tmp_path / "base"
    base.mkdir()
    argv = lambda root: ["download", "--url", url, "--no-drive", "--data-dir", str(root), "-q"]  # noqa: E731
    points = crashes.checkpoints(argv, base, tmp_path)
    journal = points.index("journal written") + 1
    for n in range(journal, len(points) + 1):
        root = tmp_path / f"crash-{n}"
        shutil.copytree(base, root)
        assert crashes.child(argv(root), {crashes.CRASH_AT: str(n)}).returncode == -9
        assert run(["verify", "--data-dir", str(root), "-q"]) == 0, points[n - 1]
        left = sorted(os.listdir(root / "downloads"))
        assert left == ["LungSegDB.zip"], (points[n - 1], left)
        shutil.rmtree(root)


@pytest.mark.parametrize(
    "record",
    [
        {"path": 123, "sha256": "a" * 64},
        {"path": "downloads/x.zip", "size": "12"},
        {"path": "downloads/x.zip", "size": True},
        {"sha256": "not-hex" * 9 + "x"},
        {"pinned": "yes"},
        ["a", "list"],
        "text",
    ],
    ids=["path-int", "size-str", "size-bool", "sha-not-hex", "pinned-str", "list", "string"],
)
def test_a_provenance_record_of_the_wrong_types_is_ignored(tmp_path, archives, record, capsys):
    old, _ = archives
    root = tmp_path / "data"
    _install(root, old)
    p = paths.resolve(root)
    p.provenance.write_text(json.dumps(record))
    assert provenance.read(p.provenance) is None  # never trusted
    # info shows it as unreadable; verify never reports OK over it (audit A, 14: a corrupt
    # record is a finding, provenance-corrupt, exit 1); extract records no archive
    for argv, codes in (
        (["info", "--json"], (0,)),
        (["verify", "-q"], (1,)),
        (["extract", "-q"], (0, 2)),
    ):
        code = run([*argv, "--data-dir", str(root)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert code in codes, (argv, code, err)  # extract: no recorded archive -> usage


def test_a_download_that_cannot_be_extracted_is_fetched_afresh(
    tmp_path, archives, fake_drive, monkeypatch
):
    """An unpinned download with a CRC error (exit 4) is moved aside, never kept: the next run
    fetches again instead of failing on the same kept bytes forever."""
    old, _ = archives
    bad = _corrupt_copy(old.path, tmp_path / "bad.zip")
    fake_drive.mirror["LungSegDB.zip"] = bad.read_bytes()
    monkeypatch.delenv("LUNGSEGDB_SHA256", raising=False)
    root = tmp_path / "data"
    url = fake_drive.mirror_url("LungSegDB.zip")
    assert run(["download", "--url", url, "--data-dir", str(root), "-q"]) == 4
    assert (root / "downloads" / "LungSegDB.zip.rejected").read_bytes() == bad.read_bytes()
    assert provenance.read(paths.resolve(root).provenance) is None
    fake_drive.mirror["LungSegDB.zip"] = old.path.read_bytes()  # the mirror is fixed
    assert run(["download", "--url", url, "--data-dir", str(root), "-q"]) == 0
    check_invariant(root, None, old, committed=True)


def test_debris_lists_what_a_journal_left_applied_moved_aside(tmp_path: Path) -> None:
    """Audit K #12: what a commit killed after its renames moved aside is what recovery
    deletes; :func:`commit.debris` (``clean``'s ``stale-staging``) lists all of it -- the
    aside of a removed archive, whose place is empty, too (the pre-journal rule would put it
    back) -- and ``recover(finish=False)`` deletes none of it."""
    where = paths.resolve(tmp_path, writing=True)
    where.downloads_dir.mkdir(parents=True)
    archive = where.downloads_dir / "A.zip"
    archive.write_bytes(b"a" * 7)
    where.dataset_dir.mkdir()
    (where.dataset_dir / "f.TIF").write_bytes(b"x" * 5)

    class Stop(Exception):
        pass

    def hook(name: str) -> None:
        if name == "applied":
            raise Stop

    with pytest.raises(Stop), commit.Transaction(where, hook=hook) as txn:
        (txn.stage_dir(where.dataset_dir) / "g.TIF").write_bytes(b"y" * 3)
        txn.remove(archive)
        txn.commit()
    asides = [*tmp_path.glob(".LungSegDB.old-*"), *where.downloads_dir.glob(".A.zip.old-*")]
    assert len(asides) == 2
    assert sorted(commit.debris(where)) == sorted(asides)
    with locking.writer_lock(where):
        assert commit.recover(where, finish=False) is False
        assert all(os.path.lexists(p) for p in asides)
        commit.recover(where)
    assert not any(os.path.lexists(p) for p in asides) and commit.debris(where) == []
    assert (where.dataset_dir / "g.TIF").is_file() and not archive.exists()
