"""``lungsegdb export`` owns only what it made: OUT is claimed for the run, put in place only
if it is still what the export saw, and a ``--force`` replaces nothing but a previous export.

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
