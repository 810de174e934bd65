"""What a download may write over, decided before it writes.

* :func:`check_places`, before anything is read or fetched: what lies where the extraction
  writes is of the kind it writes there, and no file of the user's is a source that the run
  would replace with the old tree or copy onto itself in ``downloads/`` (and later delete as
  its own);
* :func:`free_name`, at the commit: the name a fetched archive is kept under when the one it
  came with is taken by a file that is not lungsegdb's own kept archive.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.dataset.places import check_outside_tree
from lungsegdb_cli.dataset.places import check_places as check_tree_places
from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.sources.drive.links import Source
from lungsegdb_cli.sources.request import DownloadRequest
from lungsegdb_cli.utils.textsafe import shell_word


def check_places(paths: DataPaths, request: DownloadRequest, plan: Sequence[Source]) -> None:
    """Before anything is read or fetched: what lies where the extraction writes is of the
    kind it writes there, and no file of the user's would be replaced with the old tree or
    written over in ``downloads/`` -- an archive given with ``--archive`` inside the tree, a
    local source (a path or ``file://`` URL) inside the tree or in ``downloads/``."""
    from lungsegdb_cli.sources.localfile import local_path

    if request.extract:
        check_tree_places(paths)
        if request.archive is not None:
            check_outside_tree(paths, request.archive)
    for source in plan:
        if source.url[:5].lower() != "file:":
            continue
        where = Path(local_path(source.url))
        if request.extract:
            check_outside_tree(paths, where, "source")
        downloads = os.path.realpath(paths.downloads_dir)
        if Path(os.path.realpath(where)).is_relative_to(downloads):
            raise UsageError(
                f"The source {where} lies in {paths.downloads_dir}, where the download "
                "writes the archive it fetches (and may later delete it as its own)",
                hint=f"Give it with --archive {shell_word(str(where))} instead (your file: "
                "never deleted), or move it out of that folder.",
                path=str(where),
            )


#: the endings an archive name keeps when a number is put before them
_ENDINGS = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tgz", ".tar", ".zip", ".7z")


def free_name(final: Path, owned: Path | None) -> Path:
    """``final``, unless something lies there that is not the tool's own kept archive
    (``owned``: the user's file given with ``--archive``, or one the tool has no record of):
    then ``<stem> (2)<ending>``, ``(3)``, ... -- the first name free, as a browser does. A
    commit never writes over a file of the user's in ``downloads/``."""
    if not os.path.lexists(final) or final == owned:
        return final
    name = final.name
    ending = next((e for e in _ENDINGS if name.lower().endswith(e)), final.suffix)
    stem = name[: len(name) - len(ending)] if ending else name
    n = 2
    while True:
        other = final.with_name(f"{stem} ({n}){ending}")
        if not os.path.lexists(other) or other == owned:
            return other
        n += 1
