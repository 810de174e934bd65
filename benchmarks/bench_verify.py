"""Benchmark ``lungsegdb verify`` against ``sha256sum -c`` and a single-core Python loop.

The synthetic tree (``fixtures.synth_tree(scale)``) is not copied: a scratch data root gets a
symlink ``LungSegDB -> <cached tree>`` and a manifest written by hashing the tree once (which
also warms the page cache). Then, on the same files and the same manifest:

* ``verify`` vs ``sha256sum -c --quiet`` (coreutils) run inside the tree: target ratio <= 0.5;
* ``verify`` vs one Python loop with ``hashlib`` (the single-core limit): target >= 1.6x faster;
* ``verify --quick`` vs ``find -type f`` (a bare walk): target under 1 s absolute.

Run standalone: ``python benchmarks/bench_verify.py --scale 0.1 --rounds 3``.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures import synth_tree
from harness import Comparison, Side

SINGLE_CORE = textwrap.dedent(
    """\
    import hashlib, os, sys

    manifest, tree = sys.argv[1], sys.argv[2]
    os.chdir(tree)
    bad = 0
    with open(manifest, encoding="utf-8") as lines:
        for line in lines:
            digest, _, name = line.rstrip("\\n").partition("  ")
            with open(name, "rb") as fh:
                if hashlib.file_digest(fh, "sha256").hexdigest() != digest:
                    bad += 1
    sys.exit(1 if bad else 0)
    """
)


def prepare(work: Path, scale: float) -> tuple[Path, Path, Path]:
    """(data root, real tree, manifest): the root links to the cached tree, not a copy."""
    from lungsegdb_cli.checks import manifest
    from lungsegdb_cli.dataset import paths

    tree = synth_tree(scale).resolve()
    root = work / "verify-root"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "LungSegDB").symlink_to(tree, target_is_directory=True)
    p = paths.resolve(root)
    manifest.write(p, manifest.entries_of(p.dataset_dir))  # reads every byte: warm cache
    return root, tree, p.manifest


def comparisons(work: Path, scale: float) -> list[Comparison]:
    root, tree, manifest_path = prepare(work, scale)
    script = work / "single_core_sha256.py"
    script.write_text(SINGLE_CORE)
    verify_argv = [sys.executable, "-m", "lungsegdb_cli", "verify", "--data-dir", str(root)]

    def ours(*extra: str) -> Side:
        return Side("lungsegdb verify" + "".join(f" {e}" for e in extra), [*verify_argv, *extra])

    return [
        Comparison(
            "verify vs sha256sum -c",
            ours("--quiet"),
            Side("sha256sum -c", ["sha256sum", "-c", "--quiet", str(manifest_path)], cwd=tree),
            max_ratio=0.5,
            rss_limit_mb=200,
        ),
        Comparison(
            "verify vs 1-core hashlib loop",
            ours("--quiet"),
            Side(
                "python hashlib loop (1 core)",
                [sys.executable, str(script), str(manifest_path), str(tree)],
            ),
            min_speedup=1.6,
            rss_limit_mb=200,
        ),
        Comparison(
            "verify --quick vs find",
            ours("--quick", "--quiet"),
            Side("find -type f", ["find", str(tree) + "/", "-type", "f"]),
            max_seconds=1.0,
        ),
    ]


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "verify", *sys.argv[1:]]))
