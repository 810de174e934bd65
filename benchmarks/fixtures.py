"""Synthetic archives for the benchmarks, built once with ``lungsegdb synth`` and cached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("LUNGSEGDB_BENCH_CACHE", Path(__file__).parent / ".cache"))


def synth_dir(scale: float, fmt: str = "zip", seed: int = 0) -> Path:
    """A folder holding a synthetic tree and archive at ``scale``; built on first use."""
    out = CACHE / f"synth-scale{scale:g}-{fmt}-seed{seed}"
    done = out / ".complete"
    if not done.exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lungsegdb_cli",
                "synth",
                str(out),
                "--scale",
                str(scale),
                "--format",
                fmt,
                "--seed",
                str(seed),
                "--quiet",
            ],
            check=True,
        )
        done.write_text("ok\n")
    return out


def synth_archive(scale: float, fmt: str = "zip", seed: int = 0) -> Path:
    """The archive file inside :func:`synth_dir`."""
    out = synth_dir(scale, fmt, seed)
    suffix = ".zip" if fmt == "zip" else ".tar.gz"
    found = sorted(p for p in out.iterdir() if p.name.endswith(suffix))
    if not found:
        raise FileNotFoundError(f"no {suffix} archive in {out}")
    return found[0]


def synth_tree(scale: float, seed: int = 0) -> Path:
    """The LungSegDB folder inside :func:`synth_dir`."""
    return synth_dir(scale, "zip", seed) / "LungSegDB"
