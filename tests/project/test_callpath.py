"""The download and export paths stay linear where they were made so (issue "A house with
rooms"), measured with ``benchmarks/callpath.py`` -- the tool docs/performance.md reports
with -- on a 2-pair synth archive over 127.0.0.1: the command builds the request and calls
the API once, and no stage calls back into the modules that only make values (the data
dir's paths, the request, a source)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("callpath", ROOT / "benchmarks" / "callpath.py")
    assert spec is not None and spec.loader is not None
    callpath = importlib.util.module_from_spec(spec)
    sys.modules["callpath"] = callpath
    try:
        spec.loader.exec_module(callpath)
        return callpath.measure(
            None, 2, ("download", "export"), tmp_path_factory.mktemp("callpath")
        )
    finally:
        sys.modules.pop("callpath", None)


#: the module of the command function the console script runs: the typer-free fast path
#: serves ``download`` (cli/fast.py calls the body in cli/bodies.py), the typer app the rest
FIRST = {"download": "cli.bodies", "export": "cli.app"}


def test_both_paths_are_measured(measured: dict[str, Any]) -> None:
    for command in ("download", "export"):
        got = measured[command]
        assert got["exit"] == 0 and got["path"][0] == FIRST[command]
        assert 0 < got["returns"] <= got["transitions"] and got["modules"] == len(got["path"])
    assert "archive.extract" in measured["download"]["path"]  # extraction is on the path
    assert "training.export.place" in measured["export"]["path"]


def test_the_cli_builds_the_request_and_calls_the_api_once(measured: dict[str, Any]) -> None:
    edges = measured["download"]["return_edges"]
    assert not [
        e
        for e in edges
        if e.startswith(("cli.output -> sources.", "api.acquire -> sources.request"))
    ]
    assert "sources.cloud" not in measured["download"]["path"][:6]  # not a CLI hop any more


#: value modules -> the modules that may call into them: the one that makes the value (and
#: ``state.locking``, which creates the state folder the paths name)
MAKERS = {
    "dataset.paths": {"state.datadir", "state.locking"},
    "sources.drive.links": {"sources.plan"},
    "sources.request": {"cli.bodies", "sources.download"},  # build; the "Pin it in CI" line
}


@pytest.mark.parametrize("command", ["download", "export"])
def test_no_stage_calls_back_into_a_value_module(measured: dict[str, Any], command: str) -> None:
    """Paths, requests and sources are values: their derived fields are computed once, so
    the stages read attributes instead of calling into the module that made them."""
    callers: dict[str, set[str]] = {m: set() for m in MAKERS}
    for edge in measured[command]["return_edges"] + measured[command]["call_edges"]:
        source, _, rest = edge.partition(" -> ")
        target = rest.split(" ")[0]
        if target in callers and rest.endswith("(call)"):
            callers[target].add(source)
    assert {m: c - MAKERS[m] for m, c in callers.items()} == {m: set() for m in MAKERS}
    assert "cli.bodies -> sources.request (call)" not in measured[command]["return_edges"]


def test_the_spine_is_the_chains_on_which_bytes_land(measured: dict[str, Any]) -> None:
    """``--spine``: the module chains from the command down to each write under the
    destination, deterministic (no process id or random name in them)."""
    download, export = measured["download"]["spine"], measured["export"]["spine"]
    for command, spine in (("download", download), ("export", export)):
        assert spine["chains"] and all(
            c["chain"][0].startswith(FIRST[command] + ".") for c in spine["chains"]
        )
        assert spine["modules"] == len(spine["path"]) < 20
        assert spine["returns"] == len(spine["call_edges"]) + spine["bounces"]
        landed = " ".join(c["landed"] for c in spine["chains"])
        assert "staging-*" in landed and not re.search(r"staging-\d|url-[0-9a-f]", landed)
    landed = " ".join(c["landed"] for c in download["chains"])
    # the manifest is staged on the provenance's chain (the orchestrator's own stage_bytes):
    # one chain, whose first landing is the provenance (test_the_orchestrator_calls_...)
    assert ".part" in landed and ".TIF" in landed and ".provenance.json" in landed
    assert {"archive.extract_write", "sources.http.transfer"} < set(download["path"])
    assert "training.export.place" in export["path"]
    assert "utils.progress" not in download["path"] + export["path"]  # leaf helpers are off it
    io = measured["download"]["spine_io"]
    assert set(download["path"]) < set(io["path"]) and "sources.http.body" in io["path"]


def test_one_orchestrator_fetches_each_source_itself(measured: dict[str, Any]) -> None:
    """The download's spine has no bounce: ``sources/download.py`` fetches each source in
    its own loop (``plan.Failover`` keeps the score); the plan used to call the fetch back
    (``sources.plan -> sources.download``), which put it on the chain to the archive."""
    spine = measured["download"]["spine"]
    assert spine["bounces"] == 0, spine["bounce_edges"]
    assert "sources.plan" not in spine["path"]
    assert "sources.download -> sources.http.transfer" in spine["call_edges"]


def test_the_orchestrator_calls_the_transport_itself(measured: dict[str, Any]) -> None:
    """``sources/fetch.py`` prepares the transfer (space, bounds, session, the transport of
    the URL's scheme) and checks the pins afterwards, but the call that writes the ``.part``
    is the download's own (pooch's ``retrieve`` calling what ``choose_downloader`` gave):
    ``sources.fetch`` is off every chain on which bytes land."""
    spine = measured["download"]["spine"]
    assert "sources.fetch" not in spine["path"]
    part = [c["chain"] for c in spine["chains"] if c["landed"].endswith(".part")]
    assert part and all(c[-1] == "sources.http.transfer.fetch" for c in part), part


def test_the_rate_guard_times_the_body_reads_without_running_them(
    measured: dict[str, Any],
) -> None:
    """With the reads on the spine too (``spine_io``), no chain bounces: the body reader makes
    each network read itself between the guard's ``begin`` and ``end`` (the guard used to
    run it, ``sources.http.body -> sources.http.bounds -> sources.http.body``)."""
    spine = measured["download"]["spine_io"]
    assert spine["bounces"] == 0, spine["bounce_edges"]
    assert "sources.http.bounds" not in spine["path"]
    assert "sources.http.transfer -> sources.http.body" in spine["call_edges"]


def test_the_orchestrator_calls_the_extraction_writer_itself(measured: dict[str, Any]) -> None:
    """``archive/extract.py`` plans (the archive opened, its format, the plan, the staging
    folder), but the tree's files are written by ``archive/extract_write.py`` called by the
    download itself, and the manifest is staged through the transaction by the download
    itself, beside the provenance: ``archive.extract`` is off every chain on which bytes
    land, and so is ``checks.manifest``."""
    spine = measured["download"]["spine"]
    assert "archive.extract" not in spine["path"] and "checks.manifest" not in spine["path"]
    assert "sources.download -> archive.extract_write" in spine["call_edges"]
    chains = [c["chain"] for c in spine["chains"]]
    tree = [c for c in chains if c[-1] == "archive.extract_write.write_tree"]
    staged = [c for c in chains if c[-1] == "state.commit.stage_bytes"]
    assert tree and staged and all(c[-2].startswith("sources.download.") for c in tree + staged)
    assert len(staged) == 1  # provenance, manifest and its sidecar: one chain


def test_the_export_operation_runs_its_stages_itself(measured: dict[str, Any]) -> None:
    """The export's spine is under half the issue's 12 modules: the public function
    (``api/exporting.py``) runs the steps and writes the texts itself, OUT's protocol (lock,
    staging, rename, recovery) is one module that opens its lock file once (its flock taken
    on that descriptor: ``state.locking`` opens nothing there), and no stage calls back up."""
    spine = measured["export"]["spine"]
    assert spine["bounces"] == 0, spine["bounce_edges"]
    assert spine["modules"] <= 5 and spine["returns"] <= 4, spine["path"]
    assert set(spine["call_edges"]) == {
        "cli.app -> api.exporting",
        "api.exporting -> training.export.outdir",
        "api.exporting -> training.export.place",
        "training.export.place -> tiff.write",
    }
    texts = [c for c in spine["chains"] if c["landed"].endswith("dataset.json")]
    assert texts and all(c["chain"][-1].startswith("api.exporting.") for c in texts)


def test_the_download_spine_is_half_the_issues_count(measured: dict[str, Any]) -> None:
    """Issue "A house with rooms": about 14 modules and 14 returns for download before (the
    spine gives 13 / 15 at 794907b); half is 7 / 7. As the console script runs it: the body,
    the operation, and the stages it calls -- the transfer, the extraction's writer, the
    commit -- and the two foundations they write through (the atomic writer, the lock)."""
    spine = measured["download"]["spine"]
    assert spine["bounces"] == 0, spine["bounce_edges"]
    assert spine["modules"] <= 7 and spine["returns"] <= 7, spine["path"]
    assert set(spine["call_edges"]) == {
        "cli.bodies -> sources.download",
        "sources.download -> sources.http.transfer",
        "sources.download -> archive.extract_write",
        "sources.download -> state.commit",
        "sources.http.transfer -> utils.fsutil",
        "state.commit -> utils.fsutil",
        "state.commit -> state.locking",
    }
