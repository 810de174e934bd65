"""A lock file on a read-only file system (audit C): the reason given is the file system's,
not "No such file or directory" from the read-only fallback's second open. Needs a
read-only mount: made with ``mount -t tmpfs -o ro`` where this test may (root, and a
kernel that allows it); skipped elsewhere."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import lungsegdb_cli as L


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "ro"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only file system needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount here: {made.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_an_export_beside_a_read_only_out_says_read_only(read_only: Path, tmp_path: Path) -> None:
    made = L.synth(tmp_path / "s", pairs=1, fmt="none")
    with pytest.raises(L.LocalError) as info:
        L.export("csv", read_only / "out", made.tree)
    assert "Read-only file system" in info.value.message, info.value.message
    assert "No such file" not in info.value.message
    assert "read-only file system" in info.value.hint
