"""export's OUT may not be empty or blank (an unset variable) nor the current folder or one
holding it: the export would replace the folder the caller works in (its shell left in a
deleted folder). Refused with exit 2 before anything is written, by the command line and by
``L.export`` alike."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

#: OUT as given, relative to the current folder ``work`` inside ``tmp``; what the error says.
CASES: list[tuple[str, str, str]] = [
    ("empty", "", "an unset variable"),
    ("blank", " ", "an unset variable"),
    ("dot", ".", "is the current folder"),
    ("dot-slash", "./", "is the current folder"),
    ("absolute", "{work}", "is the current folder"),
    ("via-parent", "../work", "is the current folder"),
    ("parent", "..", "a folder holding the current folder"),
    ("grandparent", "{tmp}", "a folder holding the current folder"),
]
IDS = [c[0] for c in CASES]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An empty current folder ``tmp/a/work`` and what it and its parents are now."""
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return {
        "work": work,
        "tmp": tmp_path / "a",
        "inode": work.stat().st_ino,
        "around": sorted(os.listdir(tmp_path / "a")),
    }


def _untouched(work: dict[str, Any]) -> None:
    assert Path(os.getcwd()) == work["work"] and os.listdir(".") == []
    assert work["work"].stat().st_ino == work["inode"] == os.stat(".").st_ino
    assert sorted(os.listdir(work["tmp"])) == work["around"]  # no lock, no staging beside


@pytest.mark.parametrize(("out", "says"), [c[1:] for c in CASES], ids=IDS)
@pytest.mark.parametrize("force", [False, True])
def test_python_refuses_an_out_that_is_empty_or_the_current_folder(
    synth_tree: Path, work: dict[str, Any], out: str, says: str, force: bool
) -> None:
    with pytest.raises(L.UsageError, match=says) as info:
        L.export("csv", out.format(**work), synth_tree, force=force)
    assert int(info.value.exit_code) == 2
    _untouched(work)


@pytest.mark.parametrize(("out", "says"), [c[1:] for c in CASES], ids=IDS)
def test_the_command_line_refuses_it_too(
    synth_tree: Path, work: dict[str, Any], out: str, says: str
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lungsegdb_cli",
            "export",
            "csv",
            out.format(**work),
            "--json",
            "--data-dir",
            str(synth_tree),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["kind"] == "usage" and says in error["message"], error
    _untouched(work)


def test_a_folder_of_its_own_below_the_current_one_is_fine(
    synth_tree: Path, tmp_path: Path, work: dict[str, Any]
) -> None:
    tree = tmp_path / "data" / "LungSegDB"
    shutil.copytree(synth_tree, tree)  # the shared tree is never written to
    got = L.export("csv", "export", tree)
    assert got.ok and Path(got.out) == work["work"] / "export"
    assert (work["work"] / "export" / "pairs.csv").is_file()
