"""Collection is deterministic: the same test ids in every process, second and hash seed.

pytest-xdist refuses to run when its workers collect different ids ("Different tests were
collected between gw0 and gw1"). That happens when a parameter embeds the clock (gzip headers,
zip member dates) or unseeded randomness, or when ids follow set/dict order under a different
PYTHONHASHSEED. This test collects the whole suite twice in fresh interpreters, more than a
second (and more than one 2-second zip date tick) apart and with different hash seeds, and
compares the ids.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()
GUARD = "LUNGSEGDB_COLLECTION_CHILD"


def _collect(hash_seed: str) -> list[str]:
    """The test ids that ``pytest --collect-only -q`` prints, in order (this file left out)."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, GUARD: "1"}
    cmd = [
        sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
        "--ignore", str(THIS), str(ROOT / "tests"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


@pytest.mark.skipif(os.environ.get(GUARD) == "1", reason="no recursion from the child runs")
def test_two_collections_give_identical_ids() -> None:
    first = _collect("1")
    time.sleep(1.1)  # gzip mtimes have 1 s resolution; the first run adds more than another
    second = _collect("2")
    assert first, "nothing was collected"
    only_first = sorted(set(first) - set(second))[:5]
    only_second = sorted(set(second) - set(first))[:5]
    assert first == second, f"only in run 1: {only_first}\nonly in run 2: {only_second}"
