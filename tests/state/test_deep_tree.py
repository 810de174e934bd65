"""A folder nested deeper than Python's recursion limit (about 1,000 levels: a path of only
~2,000 characters, which an archive or a user can make) inside the tree: every command still
works, and a commit that replaces the tree finishes (``shutil.rmtree`` raised RecursionError
after the commit point, and every later command failed the same way on the leftover)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import lungsegdb_cli as L

# internals: cli/app's run is the command as typed; fsutil's helpers at their unit
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.utils.fsutil import remove_tree, tree_size

DEPTH = sys.getrecursionlimit() + 200


def _nest(base: Path, depth: int = DEPTH) -> int:
    """``base/d/d/.../d/x.tif`` (``depth`` folders) made through directory descriptors;
    the bytes written."""
    fd = os.open(base, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        leaf = os.open("x.tif", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"12345")
        os.close(leaf)
    finally:
        os.close(fd)
    return 5


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    made = L.synth(tmp_path / "s", pairs=1)
    root = tmp_path / "d"
    L.download(root, archive=made.archive.path)
    return root, Path(made.archive.path)


def test_a_deep_folder_in_the_tree_breaks_no_command(data: tuple[Path, Path]) -> None:
    root, archive = data
    _nest(root / "LungSegDB" / "raw data" / "V1" / "CT_Images")
    try:
        for argv in (["info"], ["validate"], ["stats"], ["pairs"], ["clean", "--dry-run"]):
            assert run([*argv, "--data-dir", str(root), "--quiet"]) == 0, argv
        assert run(["verify", "--data-dir", str(root), "--quiet"]) == 1  # an extra file
        argv = ["extract", "--force", "--archive", str(archive), "--data-dir", str(root)]
        assert run(argv) == 0
        assert sorted(os.listdir(root)) == [".lungsegdb", "LungSegDB", "LungSegDB.sha256"]
        assert not (root / "LungSegDB" / "raw data" / "V1" / "CT_Images" / "d").exists()
        assert run(["verify", "--data-dir", str(root), "--quiet"]) == 0
    finally:
        remove_tree(root)  # pytest's own clean-up of tmp_path is recursive


def test_remove_tree_and_tree_size_need_no_recursion(tmp_path: Path) -> None:
    top = tmp_path / "top"
    top.mkdir()
    (top / "a.bin").write_bytes(b"abc")
    (top / "link").symlink_to(tmp_path)  # never followed
    nested = _nest(top)
    assert tree_size(top) == 3 + nested
    remove_tree(top)
    assert sorted(os.listdir(tmp_path)) == []
    remove_tree(top)  # gone already: nothing to do, no error
