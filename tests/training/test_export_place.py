"""training/export/place.py and recordtext.py: what makes ``export nnunet`` run at copy speed.

The decoding jobs reach the workers before the main process starts linking; a worker that
only meets plain TIFFs never loads tifffile; the record is written one line per file.
"""

from __future__ import annotations

# internals: training/export/place's scheduling and reading, below what the API shows
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L
from lungsegdb_cli.training.export import place, recordtext
from lungsegdb_cli.utils.progress import ensure


def _masks_and_images(root: Path, n: int) -> list[place.Job]:
    """``n`` 0/255 masks to rewrite (binary jobs) and ``n`` int16 CT slices to link."""
    root.mkdir(parents=True)
    jobs = []
    for i in range(n):
        ct = np.full((16, 16), -3024, dtype=np.int16)
        ct[4:12, 4:12] = 40 + i
        tifffile.imwrite(root / f"ct{i}.tif", ct)
        tifffile.imwrite(root / f"m{i}.tif", np.where(ct > 0, 255, 0).astype(np.uint8))
        jobs.append(place.Job(f"l/m{i}.tif", str(root / f"m{i}.tif"), "mask", "binary", str(i)))
        jobs.append(place.Job(f"i/ct{i}.tif", str(root / f"ct{i}.tif"), "image", "link", str(i)))
    return jobs


class _Recorder(ThreadPoolExecutor):
    """A stand-in for the fork pool that notes, in order, what was sent to it."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(2)
        self.events = events

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.events.append("submit")
        return super().submit(fn, *args, **kwargs)


def test_decoding_jobs_are_sent_before_the_links_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lungsegdb_cli.checks import decodepass

    jobs = _masks_and_images(tmp_path / "src", 3 * place._CHUNK)
    events: list[str] = []
    monkeypatch.setattr(decodepass, "_pool", lambda n: _Recorder(events))
    real = place.place_one

    def noting(job: place.Job, *args: Any) -> Any:
        if job.mode == "link":
            events.append("link")
        return real(job, *args)

    monkeypatch.setattr(place, "place_one", noting)
    out = tmp_path / "out"
    out.mkdir()
    placed = place.place_all(jobs, str(out), "hardlink", 2**26, ensure(None), workers=2)
    assert events.index("submit") < events.index("link")
    assert [p.rel for p in placed] == [j.rel for j in jobs]
    assert {p.how for p in placed if p.kind == "mask"} == {"written"}
    assert {p.how for p in placed if p.kind == "image"} == {"hardlink"}
    for i in range(3):
        assert set(np.unique(tifffile.imread(out / f"l/m{i}.tif"))) <= {0, 1}


def test_a_worker_placing_plain_tiffs_never_imports_tifffile(tmp_path: Path) -> None:
    jobs = _masks_and_images(tmp_path / "src", 4)
    (tmp_path / "out" / "l").mkdir(parents=True)
    (tmp_path / "out" / "i").mkdir()
    gray = [
        place.Job(f"i/g{j.rel[4:]}", j.source, "image", "gray", j.key)
        for j in jobs
        if j.mode == "link"
    ]
    code = (
        "import sys, json\n"
        "from lungsegdb_cli.training.export import place\n"
        "jobs = [place.Job(*j) for j in json.loads(sys.argv[1])]\n"
        "done = place._place_chunk(jobs, sys.argv[2], 'hardlink', 2**26)\n"
        "assert all(isinstance(d, place.Placed) for d in done), done\n"
        "print(json.dumps([sorted({d.how for d in done}), 'tifffile' in sys.modules]))\n"
    )
    work = [list(j) for j in ((j.rel, j.source, j.kind, j.mode, j.key) for j in [*jobs, *gray])]
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(work), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout) == [["hardlink", "written"], False]


def test_the_record_is_one_line_per_file_and_reads_back(tmp_path: Path) -> None:
    made = L.synth(tmp_path / "s", pairs=6, seed=0, fmt="none")
    L.split(made.tree, seed=3)
    result = L.export("nnunet", tmp_path / "out", made.tree)
    text = Path(result.record).read_text()
    doc = json.loads(text)
    lines = text.splitlines()
    for entry in doc["files"]:
        line = json.dumps(entry, ensure_ascii=True, separators=(", ", ": "))
        assert f"  {line}," in lines or f"  {line}" in lines
    assert L.check_export(tmp_path / "out").ok


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"a": 1, "b": [], "c": {}, "d": None, "e": "é\u2028"},
        {"files": [{"path": f"x{i}", "n": i} for i in range(40)], "small": [1, {"k": [2]}]},
        {"cases": {f"k{i}": f"v{i}" for i in range(40)}, "nested": {"a": {"b": [1, 2]}}},
    ],
    ids=["empty", "scalars", "long-list", "long-mapping"],
)
def test_recordtext_is_the_same_document(doc: dict[str, Any]) -> None:
    text = recordtext.dumps(doc)
    assert json.loads(text) == doc and text.endswith("\n") and text.isascii()
    if len(doc) > 1:
        assert text.startswith("{\n ")
