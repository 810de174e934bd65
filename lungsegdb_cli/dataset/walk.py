"""List a tree's files without opening or following anything: :func:`scan_tree`.

Used by ``verify`` (extras, ``--quick`` sizes) and :func:`lungsegdb_cli.checks.manifest.entries_of`;
re-exported by :mod:`lungsegdb_cli.checks.verify`.
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterator
from pathlib import Path

from lungsegdb_cli.dataset import card as dataset

#: Sizes :func:`scan_tree` reports for what is not a regular file.
LINK = -2  # a symlink (to anything: never followed)
SPECIAL = -3  # a FIFO, device or socket


def scan_tree(
    dataset_dir: Path, *, sizes: bool = True, skip: Container[str] = ()
) -> Iterator[tuple[str, int]]:
    """``(relative path with '/', size)`` of every file under ``dataset_dir``.

    With ``sizes=False`` regular files report size 0 and cost no ``stat`` (the folder
    listing's file types suffice): enough to find extra files. Paths in ``skip`` (the
    manifest's, when looking for extras) are passed over unless they are folders: one set
    lookup per listed file instead of the junk and type checks.

    OS junk is skipped. Nothing is opened and no symlink is followed: a symlink (to a file,
    a folder or anything) is yielded with size :data:`LINK`, a FIFO, device or socket with
    :data:`SPECIAL` (no cycles, nothing outside the tree looked at; a manifest file under a
    symlinked folder is still found by path). A missing ``dataset_dir`` yields nothing; an
    unreadable folder raises ``OSError``.
    """
    if not os.path.isdir(dataset_dir):
        return
    is_junk = dataset.is_junk_name  # junk folders are pruned on the way down: a name decides
    stack: list[tuple[str, str]] = [(os.fspath(dataset_dir), "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            entries = list(it)
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not is_junk(name):
                        stack.append((entry.path, prefix + name + "/"))
                    continue
                rel = prefix + name
                if (skip and rel in skip) or is_junk(name):
                    continue
                if entry.is_file(follow_symlinks=False):
                    yield rel, entry.stat(follow_symlinks=False).st_size if sizes else 0
                elif entry.is_symlink():
                    yield rel, LINK
                else:
                    yield rel, SPECIAL
            except FileNotFoundError:
                continue  # vanished while we looked
