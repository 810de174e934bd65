"""A LungSegDB folder that is a symbolic link (the tree moved to a bigger disk and linked
back: verify, validate and the rest follow it). A new tree is never written through the link:
the commit replaces the link and leaves its target as it was (``test_extract`` guards that).
What was missing was saying so: the folder the link pointed to is named in the result
(``replaced_link``) and in a ``note:`` line, by ``extract`` and by a ``download`` that extracts."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

# internals: the CLI's in-process entry (exit codes, human and JSON output), not public API
from lungsegdb_cli.cli.app import run


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(folder)):
        dirnames.sort()
        for name in sorted(files):
            h.update(name.encode() + Path(dirpath, name).read_bytes())
    return h.hexdigest()


@pytest.fixture
def linked(synth_result: Any, tmp_path: Path) -> tuple[Path, Path]:
    """A data dir whose LungSegDB folder was moved to ``bigdisk/`` and linked back."""
    root = tmp_path / "data"
    L.download(root, archive=synth_result.archive.path, sha256=synth_result.archive.sha256)
    moved = tmp_path / "bigdisk" / "LungSegDB"
    moved.parent.mkdir()
    (root / "LungSegDB").rename(moved)
    (root / "LungSegDB").symlink_to(moved)
    assert L.verify(root).ok  # a layout the readers follow
    return root, moved


@pytest.mark.parametrize(
    ("argv", "doc_of"),
    [
        (["extract", "--force", "--archive", "{archive}"], lambda d: d),
        (["download", "--force", "--archive", "{archive}"], lambda d: d["extract"]),
        (["download", "--force", "--url", "{url}", "--no-drive"], lambda d: d["extract"]),
    ],
    ids=["extract-force", "download-force-archive", "download-force-url"],
)
@pytest.mark.parametrize("json_out", [False, True], ids=["human", "json"])
def test_replacing_a_linked_tree_says_where_the_link_pointed(
    linked: tuple[Path, Path],
    synth_result: Any,
    argv: list[str],
    doc_of: Any,
    json_out: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, moved = linked
    before = _digest(moved)
    archive = synth_result.archive.path
    args = [a.format(archive=archive, url=Path(archive).as_uri()) for a in argv]
    assert run([*args, "--data-dir", str(root), *(["--json"] if json_out else [])]) == 0
    out = capsys.readouterr().out
    if json_out:
        assert doc_of(json.loads(out))["replaced_link"] == os.path.realpath(moved)
    else:
        assert "was a symbolic link to" in out and str(moved) in out
    assert not (root / "LungSegDB").is_symlink() and _digest(moved) == before
    assert L.verify(root).ok


def test_a_plain_tree_reports_no_link(synth_result: Any, tmp_path: Path) -> None:
    got = L.extract(tmp_path / "data", archive=synth_result.archive.path)
    assert got.replaced_link is None and got.to_dict()["replaced_link"] is None
