"""A download reads the data dir's provenance once under the writer lock: the record that
decides whether the kept archive is reused also gives the pinned archive's size that caps
the transfer (it used to be read again by the network step). Counted with an audit hook in
a child interpreter (nothing in the library is replaced)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

_COUNT = """
import sys
opens = []
def hook(event, args):
    if event == "open" and str(args[0]).endswith("provenance.json") and args[1] in (None, "r"):
        opens.append(args[0])
sys.addaudithook(hook)
from lungsegdb_cli.cli.app import run
code = run(sys.argv[1:])
print(f"provenance reads: {len(opens)}", file=sys.stderr)
sys.exit(code)
"""


def test_a_forced_pinned_download_reads_the_provenance_once(
    synth_result: Any, tmp_path: Path
) -> None:
    archive = Path(synth_result.archive.path)
    pin = hashlib.sha256(archive.read_bytes()).hexdigest()
    data = tmp_path / "d"
    argv = [
        "download",
        "--url",
        archive.as_uri(),
        "--no-drive",
        "--sha256",
        pin,
        "--data-dir",
        str(data),
        "-q",
    ]
    first = subprocess.run(
        [sys.executable, "-c", _COUNT, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    again = subprocess.run(
        [sys.executable, "-c", _COUNT, *argv, "--force"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == "provenance reads: 1"  # the writer's look only
