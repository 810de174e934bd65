"""The public API: what ``import lungsegdb_cli`` offers, its docstring examples, its cost."""

from __future__ import annotations

import doctest
import inspect as pyinspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lungsegdb_cli as L

# internals: exercises api directly: behaviour the public API does not expose on its own
from lungsegdb_cli.api import acquire, exporting, handoff, inspect, synthesize
from lungsegdb_cli.sources import download as download_op  # the operation acquire hands out

OPERATIONS = ["download", "extract", "verify", "validate", "stats", "info", "synth"]


def test_the_docstring_examples_run():
    """Every operation's Examples section runs on synth data (numpydoc, doctest)."""
    attempted = 0
    for module in (acquire, download_op, handoff, exporting, inspect, synthesize):
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        result = doctest.testmod(module, optionflags=flags)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted >= 2 * len(OPERATIONS)


#: every function and the dataset class the package exports (audit A: five lacked sections)
PUBLIC_CALLABLES = sorted(
    n for n in L.__all__ if pyinspect.isfunction(getattr(L, n)) or n == "PairDataset"
)


@pytest.mark.parametrize("name", PUBLIC_CALLABLES)
def test_each_operation_is_exported_and_documented(name):
    """numpydoc's Parameters, Returns (not for a class), Raises and a runnable Examples."""
    fn = getattr(L, name)
    assert name in L.__all__ and callable(fn)
    doc = fn.__doc__ or ""
    sections = (
        ("Parameters", "Raises", "Examples")
        if name == "PairDataset"
        else ("Parameters", "Returns", "Raises", "Examples")
    )
    for section in sections:
        assert f"{section}\n    ---" in doc, f"{name}: no {section} section"
    assert ">>> " in doc, f"{name}: no example"


def test_every_name_in_all_resolves():
    for name in L.__all__:
        assert getattr(L, name) is not None, name


def test_importing_the_package_is_cheap():
    """No numpy, requests, tifffile, rich or typer until an operation runs."""
    code = (
        "import sys, json, lungsegdb_cli; "
        "print(json.dumps(sorted(m for m in ('numpy', 'requests', 'tifffile', 'rich', 'typer', "
        "'gdown') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def _api_modules_after(code: str) -> list[str]:
    """The ``lungsegdb_cli.api.*`` operation modules a fresh interpreter holds after ``code``."""
    code += (
        "; import sys, json; print(json.dumps(sorted(m for m in sys.modules "
        "if m.startswith('lungsegdb_cli.api.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in json.loads(out.stdout) if m != "lungsegdb_cli.api.common"]


@pytest.mark.parametrize(
    ("code", "loaded"),
    [
        ("import lungsegdb_cli", []),
        ("import lungsegdb_cli as L; L.verify", ["lungsegdb_cli.api.inspect"]),
        ("from lungsegdb_cli import download", ["lungsegdb_cli.api.acquire"]),
        ("import lungsegdb_cli as L; L.export", ["lungsegdb_cli.api.exporting"]),
    ],
)
def test_an_operation_loads_its_own_group_only(code: str, loaded: list[str]) -> None:
    """Looking an operation up imports its group's module and no other group's."""
    assert _api_modules_after(code) == loaded


def test_no_module_of_the_api_is_named_after_an_operation() -> None:
    """The import system binds a loaded submodule on its package: a module named after the
    operation it holds (``api/export.py``) would hide the operation once imported first. With
    every module of the package imported first, every operation is still a function."""
    from lungsegdb_cli.api import GROUPS

    folder = Path(L.__file__).parent / "api"
    assert not {p.stem for p in folder.glob("*.py")} & set(GROUPS)
    code = (
        "import importlib, inspect, pkgutil, lungsegdb_cli.api as A; "
        "[importlib.import_module('lungsegdb_cli.api.' + m.name) "
        "for m in pkgutil.iter_modules(A.__path__)]; "
        "import lungsegdb_cli as L; "
        "print(sorted(n for n in A.GROUPS if not inspect.isfunction(getattr(A, n))), "
        "sorted(n for n in A.GROUPS if n in L.__all__ and not inspect.isfunction(getattr(L, n))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"


def test_five_lines_from_archive_to_stats(tmp_path):
    """The README's promise: download with a pin, verify, validate, stats; no private import."""
    made = L.synth(tmp_path / "synth", pairs=1)
    L.download(tmp_path / "data", archive=made.archive.path, sha256=made.archive.sha256)
    assert L.verify(tmp_path / "data").ok
    assert L.validate(tmp_path / "data").errors == 0
    groups = L.stats(tmp_path / "data").to_dict()["groups"]
    assert len(groups) == 4 and all(g["pairs"] == 1 for g in groups)


def test_errors_carry_the_exit_code(tmp_path):
    with pytest.raises(L.OfflineError) as info:
        L.download(tmp_path / "nothing", offline=True)
    assert info.value.exit_code == L.ExitCode.DOWNLOAD == 3
    with pytest.raises(L.UsageError):
        L.verify(tmp_path / "does-not-exist")


def test_results_are_typed_and_serialise(tmp_path):
    made = L.synth(tmp_path / "s", pairs=1, fmt="none")
    report = L.validate(made.tree)
    assert isinstance(report, L.ValidateResult)
    assert all(isinstance(f, L.Finding) for f in report.findings)
    assert json.loads(json.dumps(report.to_dict()))["ok"] is True
    assert Path(made.tree).name == "LungSegDB"


def test_download_require_pin_and_keep_archive(tmp_path, synth_result) -> None:
    """The library takes the CI switches too: no pin with require_pin is a UsageError (exit
    2); keep_archive=False on a network-free local archive never deletes the user's file."""
    from lungsegdb_cli.errors import UsageError

    with pytest.raises(UsageError) as info:
        L.download(tmp_path / "d", archive=synth_result.archive.path, require_pin=True)
    assert int(info.value.exit_code) == 2 and "LUNGSEGDB_SHA256" in info.value.hint
    got = L.download(
        tmp_path / "d",
        archive=synth_result.archive.path,
        keep_archive=False,
        sha256=synth_result.archive.sha256,
        require_pin=True,
    )
    assert got.archive_kept is True and Path(synth_result.archive.path).is_file()
    with pytest.raises(UsageError):
        L.download(tmp_path / "d", extract=False, keep_archive=False)


def test_a_discarded_archive_is_still_recorded_on_the_next_run(tmp_path, synth_result) -> None:
    """docs/cli.md: archive_kept is false once an earlier run discarded the archive, and
    ``archive`` still records what it was (it was null: the up-to-date path only looked at a
    kept file)."""
    url = Path(synth_result.archive.path).as_uri()
    first = L.download(tmp_path / "d", url=url, drive=False, keep_archive=False)
    assert first.archive_kept is False and first.archive is not None
    again = L.download(tmp_path / "d", url=url, drive=False)
    assert again.action == "up-to-date" and again.archive_kept is False
    assert again.archive is not None and again.archive.sha256 == synth_result.archive.sha256
    assert again.to_dict()["archive"]["size"] == Path(synth_result.archive.path).stat().st_size


def test_archive_kept_is_false_for_a_file_of_another_size(tmp_path, synth_result) -> None:
    """A file at the recorded path that is not the recorded archive (truncated) is not kept."""
    url = Path(synth_result.archive.path).as_uri()
    got = L.download(tmp_path / "d", url=url, drive=False)
    assert got.archive_kept is True
    with open(got.archive.path, "r+b") as fh:
        fh.truncate(1000)
    again = L.download(tmp_path / "d", url=url, drive=False)
    assert again.action == "up-to-date" and again.archive_kept is False


def test_download_takes_a_built_request(tmp_path, synth_result) -> None:
    """The command line builds the one DownloadRequest and hands it over whole; the library
    uses it as it is, and refuses the loose options beside it (they would be ignored)."""
    from lungsegdb_cli.errors import UsageError
    from lungsegdb_cli.sources.request import DownloadRequest

    request = DownloadRequest.build(
        archive=synth_result.archive.path, sha256=synth_result.archive.sha256, require_pin=True
    )
    got = L.download(tmp_path / "d", request=request)
    assert got.action == "local-archive" and got.archive.sha256 == synth_result.archive.sha256
    with pytest.raises(UsageError, match="force") as info:
        L.download(tmp_path / "d", request=request, force=True)
    assert int(info.value.exit_code) == 2
