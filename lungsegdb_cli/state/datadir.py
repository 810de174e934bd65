"""The one door from a command to its data dir: resolved, then recovered.

Every public operation that touches a data dir (:mod:`lungsegdb_cli.api`, the command line's
own look-ups, :class:`~lungsegdb_cli.training.pairs.PairDataset`, ``verify-export`` for the tree its
record names) gets its :class:`~lungsegdb_cli.dataset.paths.DataPaths` from :func:`open_data_dir`,
never from :func:`~lungsegdb_cli.dataset.paths.resolve` directly: a commit a killed writer left
half-done is rolled forward before the command reads or writes anything, whichever command
comes first (``tests/state/test_recovery_first.py`` keeps it so).
"""

from __future__ import annotations

import os

from lungsegdb_cli.dataset.paths import DataPaths, resolve
from lungsegdb_cli.state import commit


def open_data_dir(
    data_dir: str | os.PathLike[str] | None,
    *,
    must_exist: bool = False,
    tidy: bool = True,
    writing: bool = False,
) -> DataPaths:
    """The data dir ``data_dir`` names (as ``--data-dir``: see :func:`resolve`), with any
    interrupted commit finished first (:func:`lungsegdb_cli.state.commit.settle`). ``tidy``
    False leaves what a killed writer staged or moved aside beside the tree (a committed
    commit still gets its renames, nothing is deleted): ``lungsegdb clean`` lists it, under
    the writer lock, before deleting it (a dry run never does).
    ``writing``: for a command that writes the tree (:func:`resolve`)."""
    paths = resolve(
        data_dir, must_exist=must_exist, writing=writing
    )  # a wrong type: UsageError there
    commit.settle(paths, tidy=tidy)
    return paths
