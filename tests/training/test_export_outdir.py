"""``lungsegdb export`` owns only what it made (``training/export/outdir.py``): OUT is claimed
for the run (its ``.OUT.lock``: a user's file of that name is refused, untouched), staged
beside, put in place only if it is still what the export saw, and a ``--force`` replaces
nothing but a previous export; what a killed run left beside OUT is put back or removed.

Races are made deterministic with the checkpoint hook (``support.fakes.AtPoint``): the other
party acts at exactly the export's "export staged" step, between staging and the commit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fakes import AtPoint

import lungsegdb_cli as L

# internals: exercises cli/app, state/crashpoints, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.state.crashpoints import ENV_CRASH_AT, set_hook

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth tree (2 pairs per group, splits in force). Read-only: copy it to change it."""
    made = L.synth(tmp_path_factory.mktemp("claim") / "s", pairs=2, seed=0, fmt="none")
    L.split(made.tree, seed=0)
    return Path(made.tree)


@pytest.fixture
def own_tree(tree: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`tree` with its state folder (splits in force)."""
    dst = tmp_path / "data"
    dst.mkdir()
    shutil.copytree(tree, dst / "LungSegDB")
    shutil.copytree(tree.parent / ".lungsegdb", dst / ".lungsegdb")
    return dst / "LungSegDB"


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


@pytest.fixture
def hook() -> Iterator[None]:
    """Tests install a checkpoint hook with ``set_hook``; it is removed afterwards."""
    yield
    set_hook(None)


def _snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _beside(out: Path) -> list[str]:
    """What an export left beside OUT: staging or moved-aside folders, its lock file."""
    return sorted(n for n in os.listdir(out.parent) if n.startswith(f".{out.name}."))


def _child_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUNGSEGDB_SYNC": "0"}
    env.pop(ENV_CRASH_AT, None)
    return env


# ---------------------------------------------------------------------------------------------
# A file put into OUT during an export, a second export
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("before", ["absent", "empty", "export"])
def test_a_file_put_in_out_during_an_export_survives(
    tree: Path, tmp_path: Path, before: str, hook: None, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    if before == "empty":
        out.mkdir()
    elif before == "export":
        L.export("csv", out, tree)
    old = _snapshot(out)

    def drop() -> None:
        out.mkdir(exist_ok=True)
        (out / "important.txt").write_text("mine")

    set_hook(AtPoint("export staged", drop))
    force = ["--force"] if before == "export" else []
    code = run(
        ["export", "folders", str(out), "--data-dir", str(tree), "--link", "copy", "--json", *force]
    )
    err = json.loads(capsys.readouterr().out)["error"]
    assert code == 5 and err["code"] == 5 and err["kind"] == "out-changed", err
    assert str(out / "important.txt") in err["message"]
    assert _snapshot(out) == {**old, "important.txt": b"mine"}
    assert _beside(out) == []


def test_a_record_replaced_during_a_forced_export_is_kept(
    tree: Path, tmp_path: Path, hook: None
) -> None:
    out = tmp_path / "out"
    L.export("csv", out, tree)
    other = tmp_path / "other"
    L.export("folders", other, tree, variant="raw")

    def replace() -> None:  # another program puts another export there meanwhile
        shutil.rmtree(out)
        shutil.copytree(other, out)

    set_hook(AtPoint("export staged", replace))
    with pytest.raises(L.LocalError, match="no longer the record") as caught:
        L.export("csv", out, tree, force=True)
    assert caught.value.kind == "out-changed"
    assert _snapshot(out) == _snapshot(other) and _beside(out) == []


def test_two_exports_into_one_empty_folder_one_wins(tree: Path, tmp_path: Path, hook: None) -> None:
    """The second export starts while the first is staged: it fails at once (exit 5, naming
    OUT and the run holding it); the first completes and its export checks out."""
    out = tmp_path / "out"
    out.mkdir()
    second: list[subprocess.CompletedProcess[str]] = []

    def start_second() -> None:
        cmd = [
            sys.executable,
            "-m",
            "lungsegdb_cli",
            "export",
            "csv",
            str(out),
            "--data-dir",
            str(tree),
            "--json",
        ]
        second.append(
            subprocess.run(cmd, env=_child_env(), capture_output=True, text=True, timeout=120)
        )

    set_hook(AtPoint("export staged", start_second))
    assert run(["export", "folders", str(out), "--data-dir", str(tree), "--quiet"]) == 0
    proc = second[0]
    assert proc.returncode == 5, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["kind"] == "out-busy" and str(out) in err["message"]
    assert "export folders" in err["message"]  # the marker names the run holding OUT
    assert "Traceback" not in proc.stderr
    assert json.loads((out / "lungsegdb-export.json").read_text())["format"] == "folders"
    assert L.check_export(out).ok
    assert run(["verify-export", str(out), "--quiet"]) == 0
    assert _beside(out) == []


# ---------------------------------------------------------------------------------------------
# --force replaces only a previous export, exactly as it made it
# ---------------------------------------------------------------------------------------------
def _not_an_export(out: Path, tree: Path, kind: str) -> None:
    if kind == "export-with-a-user-file":
        L.export("csv", out, tree)
        (out / "notes.txt").write_text("mine")
        return
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    if kind == "broken-record":
        (out / "lungsegdb-export.json").write_text("{}")
    elif kind == "foreign-record":
        (out / "lungsegdb-export.json").write_text('{"kind": "something-else", "files": []}')
    elif kind == "malformed-record":
        (out / "lungsegdb-export.json").write_text(
            '{"kind": "lungsegdb-export", "files": [], "splits": {}, "texts": 3}'
        )


@pytest.mark.parametrize(
    "kind",
    ["no-record", "broken-record", "foreign-record", "malformed-record", "export-with-a-user-file"],
)
def test_force_over_what_is_not_an_export_is_refused(
    tree: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    _not_an_export(out, tree, kind)
    before = _snapshot(out)
    code = run(["export", "folders", str(out), "--data-dir", str(tree), "--force", "--json"])
    err = json.loads(capsys.readouterr().out)["error"]
    assert code == 2 and err["kind"] == "usage", err
    assert _snapshot(out) == before and _beside(out) == []


def test_force_over_a_link_to_an_export_is_refused(tree: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    L.export("csv", real, tree)
    before = _snapshot(real)
    out = tmp_path / "out"
    out.symlink_to(real, target_is_directory=True)
    assert run(["export", "csv", str(out), "--data-dir", str(tree), "--force", "-q"]) == 2
    assert out.is_symlink() and _snapshot(real) == before
    assert _beside(out) == [] and _beside(real) == []


def test_force_over_a_previous_export_still_replaces_it(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    L.export("folders", out, tree, variant="raw")
    assert run(["export", "csv", str(out), "--data-dir", str(tree), "--force", "-q"]) == 0
    assert sorted(_snapshot(out)) == ["lungsegdb-export.json", "lungsegdb-splits.json", "pairs.csv"]
    assert L.check_export(out).ok and _beside(out) == []


@pytest.mark.parametrize("pid", ["own", "live", "dead"])
def test_a_killed_runs_staging_goes_whatever_pid_its_name_holds(
    tree: Path, tmp_path: Path, pid: str
) -> None:
    """In a container every run may be pid 2: the staging a killed run left beside OUT names
    the next run's own pid (or any live one). The next export, holding OUT's claim, removes
    it all the same: no other run can be staging OUT then."""
    out = tmp_path / "out"
    number = {"own": os.getpid(), "live": os.getppid(), "dead": 4194999}[pid]
    left = tmp_path / f".out.staging-{number}-0badc0de"
    (left / "images").mkdir(parents=True)
    (left / "images" / "1.TIF").write_bytes(b"a copy a killed run had made")
    result = L.export("folders", out, tree)
    assert result.ok and not left.exists()
    assert _beside(out) == []


def _ctrl_c() -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(("point", "placed"), [("export staged", False), ("export done", True)])
@pytest.mark.parametrize("json_out", [False, True], ids=["human", "json"])
def test_ctrl_c_after_the_export_is_in_place_says_so(
    tree: Path,
    tmp_path: Path,
    hook: None,
    capsys: pytest.CaptureFixture[str],
    point: str,
    placed: bool,
    json_out: bool,
) -> None:
    """Ctrl-C before the export is put in place: OUT as it was, "run the same command again"
    holds. After: OUT holds the export, so the message says that and the hint is the check
    (the same command again would refuse the now non-empty OUT)."""
    out = tmp_path / "out"
    set_hook(AtPoint(point, _ctrl_c))
    argv = ["export", "folders", str(out), "--data-dir", str(tree), "-q"]
    assert run([*argv, "--json"] if json_out else argv) == 130
    captured = capsys.readouterr()
    if json_out:
        error = json.loads(captured.out)["error"]
        message, hint = error["message"], error["hint"]
    else:
        message, hint = captured.err.splitlines()[0], captured.err.splitlines()[1]
    assert out.exists() is placed
    if placed:
        assert "put in place" in message and "export --check" in hint
        assert L.check_export(out).ok
    else:
        assert "nothing half-written" in message and "same command again" in hint
        assert run(argv) == 0


# ---------------------------------------------------------------------------------------------
# Atomicity
# ---------------------------------------------------------------------------------------------
def _debris(parent: Path) -> list[str]:
    return [n for n in os.listdir(parent) if ".staging-" in n or ".old-" in n]


def test_refuses_non_empty_out_and_force_replaces(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert run(["export", "folders", str(out), "--data-dir", str(tree), "--json"]) == 2
    err = json.loads(capsys.readouterr().out)
    assert err["ok"] is False and "not empty" in err["error"]["message"]
    # --force replaces only an export
    assert run(["export", "folders", str(out), "--data-dir", str(tree), "--force"]) == 2
    assert (out / "mine.txt").read_text() == "keep"
    out2 = tmp_path / "out2"
    L.export("folders", out2, tree, variant="raw")
    first = json.loads((out2 / "lungsegdb-export.json").read_text())
    assert run(["export", "csv", str(out2), "--data-dir", str(tree)]) == 2
    assert run(["export", "csv", str(out2), "--data-dir", str(tree), "--force"]) == 0
    assert (out2 / "pairs.csv").is_file() and not (out2 / "raw").exists()
    assert first["format"] == "folders" and _debris(tmp_path) == []
    (tmp_path / "empty").mkdir()  # an empty OUT is fine
    L.export("csv", tmp_path / "empty", tree)


def _nnunet_raw_with_another_dataset(out: Path, tree: Path) -> None:
    (out / "Dataset004_Hippocampus" / "imagesTr").mkdir(parents=True)


def _previous_export_then_another_dataset(out: Path, tree: Path) -> None:
    L.export("nnunet", out, tree, variant="raw")
    (out / "Dataset004_Hippocampus").mkdir()


def _a_users_files(out: Path, tree: Path) -> None:
    out.mkdir()
    (out / "mine.txt").write_text("keep")


#: (what OUT holds, --force, what the refusal says, whether it hints at $nnUNet_raw)
NOT_OURS = [
    (_nnunet_raw_with_another_dataset, False, "is not empty", True),
    (_nnunet_raw_with_another_dataset, True, "is not a lungsegdb export", True),
    (_previous_export_then_another_dataset, True, "its export did not make", True),
    (_a_users_files, False, "is not empty", False),
    (_a_users_files, True, "is not a lungsegdb export", False),
]


@pytest.mark.parametrize(
    ("holds", "force", "says", "nnunet"),
    NOT_OURS,
    ids=[f"{c[0].__name__}-force={c[1]}" for c in NOT_OURS],
)
def test_an_out_holding_nnunet_datasets_is_refused_with_the_way_to_link_them(
    holds,
    force: bool,
    says: str,
    nnunet: bool,
    tree: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """$nnUNet_raw holds other datasets: an export may not own it (exit 2, nothing touched),
    and the refusal says to export to a folder of its own and link the DatasetNNN_* folders
    into $nnUNet_raw (docs/export.md#nnunet); any other non-empty OUT keeps the plain hint."""
    out = tmp_path / "nnUNet_raw"
    holds(out, tree)
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    rc = run(
        ["export", "nnunet", str(out), "--data-dir", str(tree), "--json"]
        + (["--force"] if force else [])
    )
    err = json.loads(capsys.readouterr().out)["error"]
    assert rc == 2 and says in err["message"], err
    assert ("link its DatasetNNN_* folders into $nnUNet_raw" in err["hint"]) is nnunet, err
    assert "\n" not in err["hint"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before


def test_failure_leaves_out_as_it_was(own_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    L.export("nnunet", out, own_tree, variant="raw")
    before = {p: (out / p).stat().st_ino for p in _files(out)}
    (own_tree / "raw data/V1/CT_Masks/2.TIF").write_bytes(b"II*\x00garbage")
    assert run(["export", "nnunet", str(out), "--data-dir", str(own_tree), "--force"]) == 1
    assert {p: (out / p).stat().st_ino for p in _files(out)} == before
    assert _debris(tmp_path) == []


@pytest.mark.parametrize("point", [1, 2])
def test_crash_leaves_out_as_it_was(tree: Path, tmp_path: Path, point: int) -> None:
    """SIGKILL at 'export staged' (1: OUT still the old export) and after the swap (2: the
    new one); the next run cleans what the dead run left beside OUT."""
    out = tmp_path / "out"
    L.export("csv", out, tree)
    env = {**os.environ, "LUNGSEGDB_CRASH_AT": str(point), "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "lungsegdb_cli",
        "export",
        "folders",
        str(out),
        "--force",
        "--data-dir",
        str(tree),
        "--variant",
        "raw",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9
    record = json.loads((out / "lungsegdb-export.json").read_text())
    assert record["format"] == ("csv" if point == 1 else "folders")
    assert L.check_export(out).ok
    L.export("csv", tmp_path / "other", tree)  # any export beside it tidies
    L.export("csv", out, tree, force=True)
    assert _debris(tmp_path) == []


def test_out_overlapping_the_tree_is_refused(tree: Path) -> None:
    for out in (tree, tree / "sub", tree.parent):
        with pytest.raises(L.UsageError, match="overlaps"):
            L.export("csv", out, tree, force=True)


# ---------------------------------------------------------------------------------------------
# audit E: what beside OUT and what OUT is are the user's
# ---------------------------------------------------------------------------------------------
def test_a_users_file_named_like_the_lock_is_refused_and_left_whole(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``.OUT.lock`` beside OUT holding anything but an export's marker is a user's: exit 2,
    the file byte for byte as it was, nothing made (it used to be truncated, then removed)."""
    lock = tmp_path / ".out.lock"
    lock.write_bytes(b"my precious notes\n")
    assert run(["export", "csv", str(tmp_path / "out"), "--data-dir", str(tree)]) == 2
    assert "not lungsegdb's" in capsys.readouterr().err
    assert lock.read_bytes() == b"my precious notes\n" and not (tmp_path / "out").exists()


#: what a run found as ``.out.lock`` beside OUT that it may take (and removes at the end)
TAKEN = [
    b"",  # a run killed between creating the lock and writing its marker
    b"lungsegdb export csv (pid 1), started 2026-01-01 00:00:00\n",  # a killed run's marker
]


@pytest.mark.parametrize("found", TAKEN, ids=["empty", "a-dead-runs-marker"])
def test_what_a_killed_run_left_as_the_lock_is_removed(
    tree: Path, tmp_path: Path, found: bytes
) -> None:
    lock = tmp_path / ".out.lock"
    lock.write_bytes(found)
    assert L.export("csv", tmp_path / "out", tree).ok
    assert not os.path.lexists(lock)


def _fifo(lock: Path) -> None:
    os.mkfifo(lock)


def _folder(lock: Path) -> None:
    lock.mkdir()
    (lock / "inside.txt").write_text("mine")


def _lookalike(lock: Path) -> None:
    lock.write_bytes(b"lungsegdb notes: export ideas\n")


def _symlink(lock: Path) -> None:
    (lock.parent / "elsewhere.txt").write_text("mine")
    lock.symlink_to(lock.parent / "elsewhere.txt")


@pytest.mark.parametrize(
    "make", [_fifo, _folder, _lookalike, _symlink], ids=lambda f: f.__name__[1:]
)
def test_anything_else_named_like_the_lock_is_refused_at_once_and_left(
    tree: Path, tmp_path: Path, make: Any
) -> None:
    """A FIFO (the check must not wait on it: it hung), a folder (named in the error), a file
    that only starts like a marker: exit 2, each left as it was, nothing made."""
    lock = tmp_path / ".out.lock"
    make(lock)
    before = os.lstat(lock)
    with pytest.raises(L.UsageError, match="not lungsegdb's") as info:
        L.export("csv", tmp_path / "out", tree)
    assert info.value.context["path"] == str(lock)
    after = os.lstat(lock)
    assert (after.st_ino, after.st_mode, after.st_size) == (
        before.st_ino,
        before.st_mode,
        before.st_size,
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("empty", [True, False], ids=["empty", "holding-a-dataset"])
def test_nnunet_raw_itself_is_never_out_even_empty(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty: bool
) -> None:
    """docs/export.md: exporting into $nnUNet_raw is refused (exit 2, nothing touched), also
    for a fresh, empty one (it used to be taken as OUT and filled)."""
    raw = tmp_path / "nnUNet_raw"
    raw.mkdir()
    if not empty:
        (raw / "Dataset004_Hippocampus").mkdir()
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "." / "nnUNet_raw"))  # spelt otherwise
    with pytest.raises(L.UsageError, match=r"is \$nnUNet_raw") as info:
        L.export("nnunet", raw, tree, variant="raw")
    assert "link its DatasetNNN_* folders" in info.value.hint
    assert sorted(p.name for p in raw.iterdir()) == ([] if empty else ["Dataset004_Hippocampus"])
    assert L.export("nnunet", tmp_path / "own", tree, variant="raw").ok  # a folder of its own


def test_the_lock_file_is_opened_once(tree: Path, tmp_path: Path) -> None:
    """``.OUT.lock`` is opened once, for its flock, its check and the marker (it was opened
    four times: a look, the lock, a second look, the marker's write)."""
    code = (
        "import sys\n"
        "opened = []\n"
        "def hook(event, args):\n"
        "    if event == 'open' and str(args[0]).endswith('.out.lock'):\n"
        "        opened.append(args)\n"
        "sys.addaudithook(hook)\n"
        "import lungsegdb_cli as L\n"
        f"L.export('csv', {str(tmp_path / 'out')!r}, {str(tree)!r})\n"
        "print(len(opened))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_child_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1"]
    assert _beside(tmp_path / "out") == []


def test_a_users_file_another_program_locks_is_refused_not_busy(tree: Path, tmp_path: Path) -> None:
    """A user's file named like the lock that their own program holds a ``flock`` on is the
    user's (exit 2, untouched), not another export at work (exit 5)."""
    import fcntl

    lock = tmp_path / ".out.lock"
    lock.write_bytes(b"my program's lock\n")
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(L.UsageError, match="not lungsegdb's"):
            L.export("csv", tmp_path / "out", tree)
    assert lock.read_bytes() == b"my program's lock\n" and not (tmp_path / "out").exists()


def test_a_busy_lock_this_user_may_not_write_is_reported_busy(tree: Path, tmp_path: Path) -> None:
    """Audit H5, 2: another user's export holds ``.OUT.lock`` in a shared folder (its file
    read-only to this user): ``out-busy`` naming the run, exit 5 -- not "could not write"."""
    import fcntl

    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    lock.write_bytes(b"lungsegdb export nnunet (pid 4242), started 2026-12-07 09:00:00\n")
    lock.chmod(0o444)
    cmd = [sys.executable, "-m", "lungsegdb_cli", "export", "nnunet", str(out)]
    cmd += ["--data-dir", str(tree), "--json"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: permission bits are not enforced")
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override", *cmd]
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other user's run
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), check=False)
    if os.geteuid() == 0 and "setpriv" in proc.stderr:
        pytest.skip(f"setpriv refused here: {proc.stderr.strip()}")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["kind"] == "out-busy" and "pid 4242" in err["message"], err
    assert not out.exists()
