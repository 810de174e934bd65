"""What every public operation shares: the ``PathLike`` type and the one door to a data dir."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.dataset.paths import DataPaths

PathLike = str | os.PathLike[str]


def data_paths(
    data_dir: PathLike | None, *, must_exist: bool = False, tidy: bool = True
) -> DataPaths:
    """Every operation's data dir, recovered first (a commit a killed writer left half-done
    is finished before anything is read or written): :mod:`lungsegdb_cli.state.datadir`
    (``tidy``: see :func:`~lungsegdb_cli.state.datadir.open_data_dir`)."""
    from lungsegdb_cli.state.datadir import open_data_dir

    return open_data_dir(data_dir, must_exist=must_exist, tidy=tidy)
