"""One benchmark entry point: every comparison side by side, in one run.

    python benchmarks/run.py [--scale 1.0] [--rounds 3] [--only download,extract,...]
                             [--sweep] [--json FILE]

Each ``bench_<name>.py`` module beside this file exposes ``comparisons(work, scale)``. Sides
alternate A/B over the rounds; the table shows the median wall time of each side, the ratio,
the ratio of the best rounds (``best``: steadier on a host that slows rounds at random, see
harness.py),
peak RSS (children included), the median CPU time (user + system) of each side's child and
the target from the issues; ``cores`` is our CPU time over our wall time, ``busy s`` the
median over our rounds of the busy CPU seconds of the whole machine during a round (every
process: other jobs on a shared machine show here; the JSON rows have every round's), and
``load`` the 1-minute load average when the comparison started.
``--sweep`` repeats the runs at
``--scale 0.1`` and reports the per-file cost at both scales. Exits 1 if a target is missed.
Synthetic data is built once with ``lungsegdb synth`` and cached (see fixtures.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ORDER = (
    "startup",
    "download",
    "extract",
    "verify",
    "validate",
    "stats",
    "export",
    "packed",
    "preview",
)
#: Files (TIFFs) in a synthetic tree at scale 1.0: 2 variants x (1,800 + 700) pairs x 2.
FILES_AT_SCALE_1 = 10_000


def _available() -> list[str]:
    return [n for n in ORDER if (HERE / f"bench_{n}.py").exists()]


def _machine() -> str:
    import os

    return f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def compiled() -> None:
    """Byte-compile the package, as pip does when it installs one. Under
    ``PYTHONDONTWRITEBYTECODE=1`` (or from a fresh checkout) every command would otherwise
    compile each module it imports, on every run: ~60 ms of start-up that no installed copy
    pays."""
    import compileall

    import lungsegdb_cli

    compileall.compile_dir(Path(lungsegdb_cli.__file__).parent, quiet=1)


def run_scale(names: list[str], scale: float, rounds: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        work = Path(tempfile.mkdtemp(prefix=f"lungsegdb-bench-{name}-"))
        try:
            for comp in module.comparisons(work, scale):
                print(f"[{name}] {comp.name} at scale {scale:g}: {rounds} rounds ...", flush=True)
                comp.run(rounds)
                row = comp.row()
                row["scale"] = scale
                files = FILES_AT_SCALE_1 * scale
                row["ours_ms_per_file"] = round(1000 * comp.ours.median / files, 3)
                rows.append(row)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    header = (
        f"{'comparison':<42}{'scale':>6}{'ours s':>9}{'theirs s':>10}{'ratio':>8}"
        f"{'best':>7}{'RSS MB':>8}{'CPU ours/theirs s':>19}{'cores':>6}{'busy s':>8}"
        f"{'load':>6}  {'target':<34}{'met':>4}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['comparison']!s:<42}{r['scale']!s:>6}{r['ours_s']!s:>9}{r['theirs_s']!s:>10}"
            f"{r['ratio']!s:>8}{r.get('best_ratio', '')!s:>7}{r['ours_rss_mb']!s:>8}"
            f"{str(r.get('ours_cpu_s', '')) + '/' + str(r.get('theirs_cpu_s', '')):>19}"
            f"{r.get('ours_cores', '')!s:>7}{r.get('ours_machine_cpu_s', '')!s:>9}"
            f"{r.get('load1', '')!s:>7}"
            f"  {r['target']!s:<34}"
            f"{'yes' if r['met'] else 'NO':>4}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(ORDER))
    parser.add_argument("--sweep", action="store_true", help="also run at scale 0.1")
    parser.add_argument("--json", type=Path, default=None, help="write the rows to this file")
    args = parser.parse_args(argv)
    names = _available()
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown or missing benchmarks: {', '.join(unknown)}")
        names = [n for n in names if n in wanted]
    print(f"machine: {_machine()}")
    compiled()
    rows: list[dict[str, object]] = []
    scales = [0.1, args.scale] if args.sweep and args.scale != 0.1 else [args.scale]
    for scale in scales:
        rows += run_scale(names, scale, args.rounds)
    print()
    print_table(rows)
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": _machine(), "rows": rows}, indent=2) + "\n")
    missed = [r["comparison"] for r in rows if not r["met"] and r["scale"] == args.scale]
    if missed:
        print(f"\ntargets missed: {', '.join(map(str, missed))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
