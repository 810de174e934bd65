"""Benchmark ``lungsegdb extract`` against ``unzip -q`` on the same synthetic zip.

The archive is ``fixtures.synth_archive(scale)`` (scale 1.0: 10,000 TIFFs, ~3.3 GB unpacked).
Each round extracts into an empty folder (emptied, and the page cache's dirty pages flushed
with ``sync``, before the timer starts, so one round's write-back does not slow the next):

* ``lungsegdb extract --archive A --data-dir D --quiet`` (SHA-256 of every file and the
  manifest included) vs ``unzip -q A -d D2``: target ratio <= 0.6, our peak RSS < 200 MB.

Needs ``unzip`` (Debian: ``apt-get install -y unzip``).

Run standalone: ``python benchmarks/bench_extract.py --scale 0.1 --rounds 3``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures import synth_archive
from harness import Comparison, Side, fresh, need_unzip


def comparisons(work: Path, scale: float) -> list[Comparison]:
    unzip = need_unzip("bench_extract")
    archive = synth_archive(scale, "zip")
    ours_dir = work / "extract-ours"
    theirs_dir = work / "extract-unzip"
    ours = Side(
        "lungsegdb extract",
        [
            sys.executable,
            "-m",
            "lungsegdb_cli",
            "extract",
            "--archive",
            str(archive),
            "--data-dir",
            str(ours_dir),
            "--quiet",
        ],
        setup=fresh(ours_dir),
    )
    theirs = Side(
        "unzip -q", [unzip, "-q", str(archive), "-d", str(theirs_dir)], setup=fresh(theirs_dir)
    )
    return [
        Comparison("extract vs unzip -q", ours, theirs, max_ratio=0.6, rss_limit_mb=200),
    ]


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "extract", *sys.argv[1:]]))
