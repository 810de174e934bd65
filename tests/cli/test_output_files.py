"""Output files the user names (``--csv``, ``--plot``, ``--out``, ``OUT``) are never written
over the data dir's own files: the tree, the manifest, the state folder, the downloads.

Each was once written there with exit 0 (slices, masks and the manifest overwritten; verify
then failed). Now every such target is exit 2 and the data dir is left byte for byte.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

# internals: the CLI's in-process entry (the exit code and the funnel), not public API
from lungsegdb_cli.cli.app import run


@pytest.fixture(scope="module")
def data_root(synth_result: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A downloaded data dir (tree, manifest, state, kept archive). Tests must leave it as is."""
    root = tmp_path_factory.mktemp("own-files") / "data"
    L.download(root, archive=synth_result.archive.path, sha256=synth_result.archive.sha256)
    return root


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (locks excepted: readers create them) and its SHA-256."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if not name.endswith("lock"):
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


#: Where a user might point an output by mistake: one of each of the data dir's own kinds.
TARGETS = {
    "a slice": "LungSegDB/raw data/V1/CT_Images/1.TIF",
    "a mask": "LungSegDB/raw data/V1/CT_Masks/1.TIF",
    "the manifest": "LungSegDB.sha256",
    "a state file": ".lungsegdb/provenance.json",
    "the downloads folder": "downloads/LungSegDB.zip",
}

#: The commands that write a file the user names, as argv with ``{out}`` for that file.
COMMANDS = {
    "pairs --csv": ["pairs", "--csv", "{out}"],
    "stats --csv": ["stats", "--csv", "{out}"],
    "stats --plot": ["stats", "--plot", "{out}"],
    "split --out": ["split", "--out", "{out}"],
    "preview": ["preview", "{out}"],
    "croissant": ["croissant", "{out}"],
}


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_over_the_data_dirs_own_files_is_exit_2(
    data_root: Path, command: str, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = data_root / TARGETS[target]
    before = _snapshot(data_root)
    argv = [a.replace("{out}", str(out)) for a in COMMANDS[command]]
    assert run([*argv, "--data-dir", str(data_root)]) == 2
    assert _snapshot(data_root) == before
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("call", "target"),
    [
        (lambda root, out: L.stats(root, csv=out), "the manifest"),
        (lambda root, out: L.split(root, out=out), "the manifest"),
        (lambda root, out: L.split(root, out=out), "a mask"),
        (lambda root, out: L.croissant(root, out=out), "a state file"),
        (lambda root, out: L.preview(out, root, n=1), "a slice"),
    ],
    ids=["stats-csv", "split-manifest", "split-mask", "croissant", "preview"],
)
def test_the_api_refuses_them_too(data_root: Path, call: Any, target: str) -> None:
    before = _snapshot(data_root)
    with pytest.raises(L.UsageError):
        call(data_root, data_root / TARGETS[target])
    assert _snapshot(data_root) == before


def test_split_may_still_name_its_own_default_file(data_root: Path, tmp_path: Path) -> None:
    """``--out`` naming the splits file split writes anyway is no mistake."""
    default = data_root / ".lungsegdb" / "splits.json"
    had = default.read_bytes() if default.exists() else None
    try:
        assert run(["split", "--out", str(default), "--data-dir", str(data_root), "-q"]) == 0
        assert default.exists()
    finally:
        if had is None:
            default.unlink()
        else:
            default.write_bytes(had)


def test_a_folder_given_for_split_out_is_hinted_with_a_json_name(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["split", "--out", str(tmp_path), "--data-dir", str(data_root)]) == 2
    assert "splits.json" in capsys.readouterr().err
