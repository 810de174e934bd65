"""``benchmarks/bare_check.py``, the by-hand side of the start-up benchmark's check rows, is a
real check: it passes an intact tree and fails one whose file changed size, as
``verify --quick`` does (otherwise the floor it reports would be the floor of nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import lungsegdb_cli as L

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bare_check.py"


def _bare(root: Path) -> int:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(root)], check=False, timeout=120
    ).returncode


def test_the_by_hand_check_agrees_with_verify_quick(synth_result: Any, tmp_path: Path) -> None:
    root = tmp_path / "data"
    L.download(root, archive=synth_result.archive.path)
    assert _bare(root) == 0 and L.verify(root, quick=True).ok
    victim = next(p for p in sorted((root / "LungSegDB").rglob("*.TIF")) if p.is_file())
    with open(victim, "ab") as fh:
        fh.write(b"x")
    assert _bare(root) == 1 and not L.verify(root, quick=True).ok
