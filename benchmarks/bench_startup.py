"""``lungsegdb --help`` start-up time, against a bare Python start."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from harness import Comparison, Side


def comparisons(work: Path, scale: float) -> list[Comparison]:
    exe = shutil.which("lungsegdb") or sys.executable
    ours = [exe, "--help"] if exe != sys.executable else [exe, "-m", "lungsegdb_cli", "--help"]
    return [
        Comparison(
            name="startup",
            ours=Side("lungsegdb --help", ours),
            theirs=Side("python -c pass", [sys.executable, "-c", "pass"]),
            max_seconds=0.3,
        )
    ]


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "startup", *sys.argv[1:]]))
