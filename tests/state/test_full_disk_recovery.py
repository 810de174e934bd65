"""A commit killed past its commit point, then the disk fills: finishing it is a ``disk-full``
error (exit 5, the free-space hint), not "this process may not write there" -- ``clean``, the
command meant to free space, says so too. On a real small file system: a tmpfs mounted in a
private mount namespace (``unshare -m``); skipped where the machine allows neither."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lungsegdb_cli as L

SCRIPT = r"""
set -u
mount -t tmpfs -o size=200m tmpfs "$MNT" || exit 77
D="$MNT/data"
run() { "$PY" -m lungsegdb_cli "$@"; }
run download --archive "$A" --data-dir "$D" -q >/dev/null || exit 70
LUNGSEGDB_CRASH_AT=9 run download --force --archive "$B" --data-dir "$D" -q >/dev/null 2>&1
[ -e "$D/.lungsegdb/journal.json" ] || exit 71
fallocate -l $(( $(stat -f -c '%a*%S' "$MNT") )) "$MNT/filler" 2>/dev/null \
  || dd if=/dev/zero of="$MNT/filler" bs=1M 2>/dev/null
for c in info verify clean; do
  run "$c" --data-dir "$D" --json > "$OUT/$c.json" 2>/dev/null; echo $? > "$OUT/$c.rc"
done
rm -f "$MNT/filler"
run verify --data-dir "$D" -q >/dev/null 2>&1; echo $? > "$OUT/after.rc"
"""


@pytest.mark.skipif(
    sys.platform != "linux" or shutil.which("unshare") is None,
    reason="needs Linux mount namespaces",
)
def test_finishing_a_commit_on_a_full_disk_is_disk_full(tmp_path: Path) -> None:
    a = L.synth(tmp_path / "a", pairs=1, like_kaggle=True)
    b = L.synth(tmp_path / "b", pairs=3, like_kaggle=True)
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LUNGSEGDB_")},
        "MNT": str(mnt),
        "OUT": str(out),
        "PY": sys.executable,
        "LUNGSEGDB_SYNC": "0",
        "A": str(a.archive.path),
        "B": str(b.archive.path),
    }
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "bash", "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode == 77 or "unshare" in done.stderr:
        pytest.skip(f"no tmpfs in a private mount namespace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    for command in ("info", "verify", "clean"):
        assert (out / f"{command}.rc").read_text().strip() == "5", command
        error = json.loads((out / f"{command}.json").read_text())["error"]
        assert error["kind"] == "disk-full", (command, error)
        assert "write access" not in error["hint"] and "Free disk space" in error["hint"]
    assert (out / "after.rc").read_text().strip() == "0"  # space freed: the commit finished
