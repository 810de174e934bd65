"""Recovery first, in every command: a commit a killed writer left half-done is finished before
any command reads or writes the data dir, whichever command comes first.

Every operation gets its data dir through one door (``lungsegdb_cli.state.datadir.open_data_dir``);
the structural test below keeps it so for commands still to come."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import lungsegdb_cli as L

# internals: exercises cli/app, dataset, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import paths as paths_mod
from lungsegdb_cli.state.crashpoints import ENV_CRASH_AT, ENV_CRASH_TRACE

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lungsegdb_cli"
#: the step of ``extract --force`` at which the old tree is moved aside and the new one not
#: yet in place: the tree is missing until the journal is rolled forward
KILLED_AT = "moved aside LungSegDB"


def _child(argv: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUNGSEGDB_SYNC": "0"}
    env.pop(ENV_CRASH_AT, None)
    env.update(extra)
    cmd = [sys.executable, "-m", "lungsegdb_cli", *argv]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A data dir whose ``extract --force`` was SIGKILLed mid-commit (journal ``committed``,
    the old tree moved aside, the new one staged), and the new tree's file count."""
    tmp = tmp_path_factory.mktemp("recover-first")
    old = L.synth(tmp / "old", pairs=1, seed=0)
    new = L.synth(tmp / "new", pairs=2, seed=1)
    root = tmp / "data"
    L.download(root, archive=old.archive.path)
    argv = ["extract", "--force", "--archive", str(new.archive.path), "--quiet"]
    trial = tmp / "trial"
    shutil.copytree(root, trial)
    trace = tmp / "trace.txt"
    assert _child([*argv, "--data-dir", str(trial)], {ENV_CRASH_TRACE: str(trace)}).returncode == 0
    points = [line.split(" ", 1)[1] for line in trace.read_text().splitlines()]
    at = points.index(KILLED_AT) + 1
    proc = _child([*argv, "--data-dir", str(root)], {ENV_CRASH_AT: str(at)})
    assert proc.returncode == -9, proc.stderr
    p = paths_mod.resolve(root)
    assert p.journal.exists() and not p.dataset_dir.exists()
    return root, new.files


def _export(root: Path, tmp: Path) -> None:
    out = tmp / "out"
    assert run(["export", "csv", str(out), "--data-dir", str(root), "--quiet"]) == 0
    assert L.check_export(out).ok


def _split(root: Path, tmp: Path) -> None:
    assert run(["split", "--data-dir", str(root), "--quiet"]) == 0


def _pairs_cli(root: Path, tmp: Path) -> None:
    assert run(["pairs", "--data-dir", str(root), "--quiet"]) == 0


def _pairs_api(root: Path, tmp: Path) -> None:
    assert L.pairs(root)


def _pair_dataset(root: Path, tmp: Path) -> None:
    assert len(L.PairDataset(root, variant="all")) > 0


#: Commands that may be the first to meet the crashed data dir (verify, validate, stats, info,
#: download and extract are covered by tests/state/test_commit.py's crash harness).
FIRST: dict[str, Callable[[Path, Path], None]] = {
    "export": _export,
    "split": _split,
    "pairs": _pairs_cli,
    "api-pairs": _pairs_api,
    "PairDataset": _pair_dataset,
}


@pytest.mark.parametrize("first", list(FIRST))
def test_the_first_command_after_a_writer_died_mid_commit_rolls_it_forward(
    crashed: tuple[Path, int], tmp_path: Path, first: str
) -> None:
    src, files = crashed
    root = tmp_path / "data"
    shutil.copytree(src, root)
    FIRST[first](root, tmp_path)
    p = paths_mod.resolve(root)
    assert not p.journal.exists(), "the journal outlived the first command"
    assert len(p.manifest.read_text().splitlines()) == files  # the new tree, whole
    assert sorted(n for n in os.listdir(root) if ".staging-" in n or ".old-" in n) == []


def test_every_command_goes_through_the_one_door() -> None:
    """No module but ``state/datadir`` resolves a data dir itself, and every public operation
    of ``api`` that takes ``data_dir`` gets its paths from ``api.common.data_paths`` (which is
    that door)."""
    resolving = re.compile(r"paths import [^\n]*\bresolve\b|\b_?paths(_mod)?\.resolve\(")
    door = {PACKAGE / "state" / "datadir.py", PACKAGE / "dataset" / "paths.py"}
    for module in sorted(PACKAGE.rglob("*.py")):
        if module in door:
            continue
        assert not resolving.search(module.read_text()), f"{module} bypasses state/datadir"
    common = ast.parse((PACKAGE / "api" / "common.py").read_text())
    fn = next(f for f in common.body if isinstance(f, ast.FunctionDef) and f.name == "data_paths")
    assert "open_data_dir" in ast.unparse(fn)
    operations = []
    for module in sorted((PACKAGE / "api").glob("*.py")):
        if module.name == "common.py":
            continue
        tree = ast.parse(module.read_text())
        operations += [
            f
            for f in tree.body
            if isinstance(f, ast.FunctionDef)
            and not f.name.startswith("_")
            and any(a.arg == "data_dir" for a in f.args.args + f.args.kwonlyargs)
        ]
    assert len(operations) >= 10
    doors = {"data_paths"} | {op.name for op in operations}  # or through another operation
    for op in operations:
        calls = {
            c.func.id
            for c in ast.walk(op)
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
        }
        assert calls & doors, f"{op.name} does not get its data dir through data_paths()"


def test_the_download_operation_goes_through_the_one_door() -> None:
    """``download`` is ``sources/download.py``'s own function, handed out by ``api/acquire.py``
    as it is (the public function is the operation, and ``PairDataset(download=True)`` runs
    it from below the API): it opens its data dir through the door itself
    (``state/datadir``'s ``open_data_dir``, what ``api.common.data_paths`` calls) and then
    runs the steps."""
    from lungsegdb_cli.api import acquire
    from lungsegdb_cli.sources import download

    assert acquire.download is download.download
    tree = ast.parse((PACKAGE / "sources" / "download.py").read_text())
    fn = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "download")
    calls = {
        c.func.id for c in ast.walk(fn) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
    }
    assert {"open_data_dir", "run"} <= calls
