"""An empty or blank data dir (``--data-dir "$UNSET"``, ``data_dir=""``) means the same on the
command line and in Python: a usage error (exit 2), before anything is read or written --
not the current folder (the command line did that), not ``$LUNGSEGDB_HOME`` (Python did)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

#: The operations that take a data dir, each called on ``data_dir`` with what it needs.
CALLS: list[tuple[str, Callable[[str], Any]]] = [
    ("info", lambda d: L.info(d)),
    ("verify", lambda d: L.verify(d)),
    ("validate", lambda d: L.validate(d)),
    ("stats", lambda d: L.stats(d)),
    ("pairs", lambda d: L.pairs(d)),
    ("split", lambda d: L.split(d)),
    ("clean", lambda d: L.clean(d)),
    ("download", lambda d: L.download(d, offline=True)),
    ("export", lambda d: L.export("csv", "out", d)),
]

#: The same through the command line: the fast path (blank values) and typer (empty ones).
COMMANDS: list[list[str]] = [
    ["info", "--json", "--data-dir", ""],
    ["verify", "--json", "--data-dir", ""],
    ["verify", "--json", "--data-dir="],
    ["verify", "--quick", "--json", "--data-dir", " "],
    ["stats", "--json", "--data-dir", " "],
    ["stats", "--json", "--data-dir="],
    ["download", "--offline", "--json", "--data-dir", ""],
    ["download", "--offline", "--json", "--data-dir", " "],
    ["validate", "--json", "--data-dir", ""],
    ["pairs", "--json", "--data-dir", ""],
    ["clean", "--json", "--data-dir", ""],
    ["export", "csv", "out", "--json", "--data-dir", ""],
]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An empty current folder and a LUNGSEGDB_HOME that must both be left alone."""
    cwd = tmp_path / "cwd"
    home = tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("LUNGSEGDB_HOME", str(home))
    return {"cwd": str(cwd), "home": str(home)}


@pytest.mark.parametrize("value", ["", " "])
@pytest.mark.parametrize("call", [c[1] for c in CALLS], ids=[c[0] for c in CALLS])
def test_python_refuses_an_empty_data_dir(
    elsewhere: dict[str, str], call: Callable[[str], Any], value: str
) -> None:
    with pytest.raises(L.UsageError, match="an unset variable") as info:
        call(value)
    assert int(info.value.exit_code) == 2
    assert os.listdir(elsewhere["cwd"]) == [] and os.listdir(elsewhere["home"]) == []


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(map(repr, a)) for a in COMMANDS])
def test_the_command_line_refuses_an_empty_data_dir(
    elsewhere: dict[str, str], argv: list[str]
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lungsegdb_cli", *argv],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["kind"] == "usage" and "an unset variable" in error["message"], error
    assert os.listdir(elsewhere["cwd"]) == [] and os.listdir(elsewhere["home"]) == []
