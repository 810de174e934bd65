"""Every result type the package exports has ``ok`` and ``to_dict()`` (docs/api.md
Conventions), ``to_dict()["ok"]`` first as in the command's ``--json`` document; ``pairs()``
is documented as the plain list it returns."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

RESULTS = sorted(n for n in L.__all__ if n.endswith("Result"))


@pytest.mark.parametrize("name", RESULTS)
def test_every_exported_result_type_has_ok_and_to_dict(name: str) -> None:
    cls = getattr(L, name)
    assert isinstance(getattr(cls, "ok", None), property), f"{name} has no ok property"
    assert callable(getattr(cls, "to_dict", None)), f"{name} has no to_dict()"


#: One call per operation whose result lacked ``ok``: (name, call on a synth tree's data dir).
CALLS: list[tuple[str, Callable[[Path, Any], Any]]] = [
    ("extract", lambda tmp, made: L.extract(tmp / "x", archive=made.archive.path)),
    ("info", lambda tmp, made: L.info(tmp / "d")),
    ("stats", lambda tmp, made: L.stats(tmp / "d")),
    ("synth", lambda tmp, made: L.synth(tmp / "s", pairs=1, fmt="none")),
]


@pytest.mark.parametrize("call", [c[1] for c in CALLS], ids=[c[0] for c in CALLS])
def test_a_successful_result_is_ok_and_says_so_first(
    tmp_path: Path, synth_result: Any, call: Callable[[Path, Any], Any]
) -> None:
    L.download(
        tmp_path / "d", archive=synth_result.archive.path, sha256=synth_result.archive.sha256
    )
    result = call(tmp_path, synth_result)
    assert result.ok is True
    doc = json.loads(json.dumps(result.to_dict()))
    assert next(iter(doc)) == "ok" and doc["ok"] is True


def test_stats_json_says_ok_once_and_first(tmp_path: Path, synth_result: Any) -> None:
    """The command line frames stats' to_dict(): ``ok`` (now the result's own) and then
    ``schema``, once each."""
    L.download(
        tmp_path / "d", archive=synth_result.archive.path, sha256=synth_result.archive.sha256
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lungsegdb_cli",
            "stats",
            "--json",
            "--no-cache",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert list(json.loads(proc.stdout))[:3] == ["ok", "schema", "dataset_dir"]
    assert proc.stdout.count('"ok"') == 1


def test_pairs_returns_the_plain_list_the_docs_describe(synth_tree: Path) -> None:
    got = L.pairs(synth_tree)
    assert type(got) is list and all(isinstance(p, L.Pair) for p in got)
    api_md = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert "`pairs()` returns a plain `list`" in api_md
    assert "except :func:`pairs`, which returns a plain ``list``" in (L.__doc__ or "")
