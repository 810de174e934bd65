"""The session-level check of tests/conftest.py: a test run that leaves anything in the temp
dir outside tmp_path fails, naming it, with or without xdist, and nothing is left. (That a
clean run passes, the whole suite shows.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

LEAKY = """
import tempfile

def test_leaks():
    open(tempfile.mkdtemp() + "/x.bin", "wb").write(b"12345")

def test_clean(tmp_path):
    (tmp_path / "y").write_text("fine")
"""


def _run(tmp_path: Path, body: str, *args: str) -> tuple[int, str, Path]:
    """pytest on one test file with the project's conftest, its temp dir under tmp_path."""
    project = tmp_path / "p"
    project.mkdir()
    shutil.copy(CONFTEST, project / "conftest.py")
    (project / "test_it.py").write_text(body)
    system = tmp_path / "system-tmp"
    system.mkdir()
    drop = ("PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(TMPDIR=str(system), PYTEST_DEBUG_TEMPROOT=str(tmp_path / "pytest-root"))
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # a fast start: xdist alone, when asked for
    (tmp_path / "pytest-root").mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(project),
            "-c",
            os.devnull,
            *args,
            str(project / "test_it.py"),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr, system


@pytest.mark.parametrize(
    "xdist", [[], ["-p", "xdist.plugin", "-n", "2"]], ids=["one-process", "xdist"]
)
def test_a_leaking_test_fails_the_run(tmp_path: Path, xdist: list[str]) -> None:
    code, out, system = _run(tmp_path, LEAKY, *xdist)
    assert code == 1, out
    assert "2 passed" in out and "files left behind" in out
    assert "1 entry was left in the temp dir outside any tmp_path" in out
    assert "(1 files, 5 bytes)" in out
    assert list(system.iterdir()) == []  # the sandbox and the leftover are gone
