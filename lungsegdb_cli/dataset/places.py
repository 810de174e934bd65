"""What lies where a writer puts the tree, checked before anything is read or moved.

Both writers (``download``, ``extract``) ask, before their first read: is what lies where
the tree and its manifest go of the kind they write there (:func:`check_places`), and does
the archive -- or a local source -- lie outside the tree they would replace
(:func:`check_outside_tree`)? The commit replaces those names wholesale: a folder of the
user's there, or the archive inside the old tree, would go with it. Cheap (a few ``stat``
calls): the no-op re-run of ``download`` makes them too.
"""

from __future__ import annotations

import os
from pathlib import Path

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import LocalError, UsageError


def check_places(paths: DataPaths) -> None:
    """What lies where an extraction writes is of the kind it writes there: a folder (or
    nothing) where the tree goes, no folder where its manifest and the manifest's sizes
    record go -- a :class:`LocalError` (exit 5) naming it otherwise, before anything is read
    or moved (the commit would move a folder there aside and delete it with the user's files
    in it). A symlink there is only a name: the commit replaces the link, never its target."""
    target = paths.dataset_dir
    if target.exists() and not target.is_dir():
        raise LocalError(
            f"{target} exists and is not a folder",
            hint="Move it away, or choose another --data-dir.",
            path=str(target),
        )
    for place in (paths.manifest, paths.manifest_sizes):
        if place.is_dir() and not place.is_symlink():
            raise LocalError(
                f"{place} is a folder, where lungsegdb writes the tree's "
                + ("manifest" if place == paths.manifest else "manifest sizes record"),
                hint="Move it away, or choose another --data-dir.",
                path=str(place),
            )


def check_outside_tree(paths: DataPaths, archive: Path, what: str = "archive") -> None:
    """A :class:`UsageError` (exit 2) if ``archive`` lies inside the tree an extraction
    would replace (through symlinks too): the commit would delete it with the old tree."""
    target = paths.dataset_dir
    # a tree that is a symlink: the commit replaces the link, never what it points to
    tree = Path(os.path.abspath(target) if target.is_symlink() else os.path.realpath(target))
    if Path(os.path.realpath(archive)).is_relative_to(tree):
        raise UsageError(
            f"The {what} {archive} is inside the tree it would replace ({target})",
            hint="Move the archive out of the LungSegDB folder first.",
            path=str(archive),
        )
