"""A LungSegDB folder that is a symbolic link (the tree moved to a bigger disk and linked
back: verify, validate and the rest follow it) is never replaced by a new tree: the commit's
rename would turn the link into a folder on the data dir's disk and orphan the linked copy.
Re-extraction and a download that would extract are exit 2 before anything is fetched."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

# internals: the CLI's in-process entry (exit codes through the funnel), not public API
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
    "argv",
    [
        ["extract", "--force", "--archive", "{archive}"],
        ["download", "--force", "--archive", "{archive}"],
        ["download", "--force", "--url", "{url}", "--no-drive"],
    ],
    ids=["extract-force", "download-force-archive", "download-force-url"],
)
def test_a_linked_tree_is_never_replaced(
    linked: tuple[Path, Path], synth_result: Any, argv: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, moved = linked
    before = _digest(moved)
    archive = synth_result.archive.path
    args = [a.format(archive=archive, url=Path(archive).as_uri()) for a in argv]
    assert run([*args, "--data-dir", str(root)]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert (root / "LungSegDB").is_symlink() and _digest(moved) == before
    assert not (root / "downloads").exists()  # nothing was fetched
    assert L.verify(root).ok


def test_a_link_to_an_empty_folder_is_refused_before_the_first_download(
    synth_result: Any, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "big").mkdir()
    (root / "LungSegDB").symlink_to(tmp_path / "big")
    with pytest.raises(L.UsageError, match="symbolic link"):
        L.download(root, url=Path(synth_result.archive.path).as_uri(), drive=False)
    assert (root / "LungSegDB").is_symlink() and not any((tmp_path / "big").iterdir())


def test_the_up_to_date_download_and_readers_still_follow_the_link(
    linked: tuple[Path, Path], synth_result: Any
) -> None:
    root, _ = linked
    again = L.download(root, archive=synth_result.archive.path, sha256=synth_result.archive.sha256)
    assert again.action == "up-to-date" and (root / "LungSegDB").is_symlink()
