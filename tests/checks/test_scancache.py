"""The decode cache: a file that parses but holds the wrong types is ignored, never trusted."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import scancache
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.tiff.decode import FileSummary

FIELDS = [f for f in FileSummary.__dataclass_fields__]

#: (field, a value of the wrong type or shape); each corrupts one cache record.
BAD_VALUES: list[tuple[str, Any]] = [
    ("kind", 3),
    ("error", 5),
    ("shape", ["a", "b"]),
    ("shape", [512, -1]),
    ("dtype", 3),
    ("pages", "x"),
    ("n", "big"),
    ("n", True),
    ("vmin", "lo"),
    ("s1", "1"),
    ("s2", 1.5),
    ("fmean", [1]),
    ("values", ["a"]),
    ("fg", None),
    ("hist", "QUJD"),  # valid base64, 3 bytes: not a histogram
    ("hist_lo", "x"),
]


def _tree_copy(tmp_path: Path, synth_tree: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(synth_tree, root / "LungSegDB", copy_function=shutil.copy2)
    return root


def _load(cache: Path) -> dict[str, Any]:
    return json.loads(gzip.decompress(cache.read_bytes()))


def _corrupt(cache: Path) -> None:
    doc = _load(cache)
    records = sorted(doc["entries"])
    assert len(records) >= len(BAD_VALUES)
    for rel, (name, value) in zip(records, BAD_VALUES, strict=False):
        doc["entries"][rel][2][FIELDS.index(name)] = value
    cache.write_bytes(gzip.compress(json.dumps(doc).encode()))


@pytest.mark.parametrize("command", ["stats", "validate"])
def test_a_cache_with_wrong_types_is_ignored(
    tmp_path: Path, synth_tree: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    root = _tree_copy(tmp_path, synth_tree)
    argv = [command, "--data-dir", str(root), "--json", "--quiet"]
    assert run(argv) == 0
    clean = json.loads(capsys.readouterr().out)
    cache = scancache.cache_file(paths.resolve(root))
    _corrupt(cache)
    assert run(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["groups"] == clean["groups"]


def test_get_rejects_a_mistyped_record_and_accepts_a_good_one(
    tmp_path: Path, synth_tree: Path
) -> None:
    from lungsegdb_cli.dataset.tree import scan

    root = _tree_copy(tmp_path, synth_tree)
    p = paths.resolve(root)
    assert run(["stats", "--data-dir", str(root), "--quiet"]) == 0
    cache = scancache.ScanCache.load(p)
    entry = scan(p.dataset_dir).groups[0].pairs[0].image
    assert cache.get(entry, "image") is not None
    cache._old[entry.rel][2][FIELDS.index("n")] = "big"
    assert cache.get(entry, "image") is None
