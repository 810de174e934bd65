"""Start-up: what every CI job pays on each call, against a bare Python start.

* ``lungsegdb --help``;
* ``lungsegdb download --sha256 PIN`` on a complete, intact, pinned tree (the call a CI job
  makes after restoring its cache: nothing to fetch);
* ``lungsegdb verify --quick`` on the same tree (sizes only);

``--help`` against ``python -c pass``, the two checks against the same check written by
hand in a few lines of the standard library (``benchmarks/bare_check.py``: the floor of a
Python process doing it on this machine); a median of 9 rounds at least; target: ours under
0.1 s.
The tree is the synthetic one at ``scale``, downloaded once into a scratch data root with
``lungsegdb download --archive`` (a real extraction: manifest, provenance, pin record).

Run standalone: ``python benchmarks/bench_startup.py --scale 0.1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures import synth_archive
from harness import Comparison, Side

#: Start-up targets are medians of at least this many rounds.
ROUNDS = 9
TARGET_S = 0.1


def _cli() -> list[str]:
    """The console script of the Python running the benchmarks (not whatever ``lungsegdb``
    comes first on PATH: a pyenv shim, another checkout), else ``python -m lungsegdb_cli``."""
    exe = Path(sys.executable).parent / "lungsegdb"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "lungsegdb_cli"]


def _compile() -> None:
    """Byte-compile the package being measured, as ``pip install`` does: a Python run with
    ``PYTHONDONTWRITEBYTECODE`` set (some CI images and sandboxes set it) would otherwise
    compile every module from source on every call, and measure the compiler."""
    import lungsegdb_cli

    package = Path(lungsegdb_cli.__file__).parent
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(package)],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
    )


def prepare(work: Path, scale: float) -> tuple[Path, str]:
    """(a data root holding the synthetic tree, downloaded and intact; its archive's pin)."""
    _compile()
    root = work / "startup-root"
    archive = synth_archive(scale)
    subprocess.run(
        [*_cli(), "download", "--archive", str(archive), "--data-dir", str(root), "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    info = subprocess.run(
        [*_cli(), "info", "--json", "--data-dir", str(root)],
        check=True,
        capture_output=True,
        text=True,
    )
    return root, json.loads(info.stdout)["archive"]["sha256"]


def comparisons(work: Path, scale: float) -> list[Comparison]:
    root, pin = prepare(work, scale)
    bare = [sys.executable, "-c", "pass"]

    by_hand = [sys.executable, str(Path(__file__).with_name("bare_check.py")), str(root)]

    def row(name: str, label: str, argv: list[str], theirs: list[str]) -> Comparison:
        return Comparison(
            name=name,
            ours=Side(label, [*_cli(), *argv]),
            theirs=Side("python -c pass" if theirs is bare else "bare_check.py", theirs),
            max_seconds=TARGET_S,
            min_rounds=ROUNDS,
        )

    data = ["--data-dir", str(root)]
    return [
        row("startup (--help)", "lungsegdb --help", ["--help"], bare),
        row(
            "download, intact pinned tree",
            "lungsegdb download --sha256 PIN",
            ["download", "--sha256", pin, *data],
            by_hand,
        ),
        row("verify --quick", "lungsegdb verify --quick", ["verify", "--quick", *data], by_hand),
    ]


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "startup", *sys.argv[1:]]))
