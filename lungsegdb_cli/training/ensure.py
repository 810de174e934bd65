"""The tree a training loop reads, there before it is indexed: ``PairDataset(download=True)``.

:func:`ensure_tree` is what :class:`~lungsegdb_cli.training.pairs.PairDataset` runs first.

* ``download=False`` (the default): nothing is fetched. No LungSegDB tree at the data dir is
  :class:`~lungsegdb_cli.errors.NotDownloaded` (exit 1, like every command that finds no tree;
  a subclass of ``CheckFailed``), whose hint is the command that downloads it.
* ``download=True``: a tree that is missing or not intact (a file of the manifest missing or
  of another size), or one a pin was given for, goes through the download itself
  (:func:`lungsegdb_cli.sources.download.run`: the same sources, pin, checks, commit and
  errors as ``lungsegdb download``, and the same environment: ``LUNGSEGDB_URLS`` /
  ``LUNGSEGDB_URL``, ``LUNGSEGDB_SHA256``, ``LUNGSEGDB_OFFLINE``, ``LUNGSEGDB_REQUIRE_PIN``,
  ``LUNGSEGDB_RETRIES``, ``LUNGSEGDB_TIMEOUT``).
  It says so through the progress callback (a note, then the download's own phases) when it
  fetches; an intact tree without a pin costs a ``stat`` per file and no network, and one
  with a pin is checked against it without network (the download's up-to-date check).

Training sits above sources in the package's layers: this module calls the download
directly, never through :mod:`lungsegdb_cli.api`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import (
    CheckFailed,
    LungSegDBError,
    NotDownloaded,
    UsageError,
    hide_secret_chain,
)
from lungsegdb_cli.utils.progress import Progress, ensure, note
from lungsegdb_cli.utils.textsafe import shell_word

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.sources.result import DownloadResult


def not_downloaded(paths: DataPaths) -> NotDownloaded:
    """The error for a data dir without a tree: the command that fetches it."""
    return NotDownloaded(
        f"LungSegDB is not downloaded: no tree at {paths.dataset_dir}",
        hint=f"Run: lungsegdb download --data-dir {shell_word(str(paths.root))}; or pass "
        "download=True (with sha256= to pin it).",
        path=str(paths.dataset_dir),
    )


def _has_tree(paths: DataPaths) -> bool:
    """A LungSegDB tree is at ``paths`` (intact or not)."""
    from lungsegdb_cli.dataset.tree import require

    try:
        require(paths)
    except CheckFailed:
        return False
    return True


def _users_tree(paths: DataPaths) -> bool:
    """The tree is a folder the reader took for it (laid out like one, not named LungSegDB
    under the data root) that lungsegdb did not write: a download must not replace it."""
    from lungsegdb_cli.dataset.card import DATASET_DIRNAME
    from lungsegdb_cli.dataset.paths import managed

    taken = paths.dataset_dir != paths.root / DATASET_DIRNAME
    return taken and paths.dataset_dir.is_dir() and not managed(paths.dataset_dir)


def ensure_tree(
    paths: DataPaths,
    *,
    download: bool = False,
    sha256: str | None = None,
    urls: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    drive: bool = True,
    progress: Progress | None = None,
    unless: Callable[[], BaseException] | None = None,
) -> DownloadResult | None:
    """Make sure the tree of ``paths`` is there (see the module docstring); the download's
    result when one ran, else None. ``urls``: the sources to try in order (default
    ``$LUNGSEGDB_URLS`` / ``$LUNGSEGDB_URL``), then the dataset's Drive file unless ``drive``
    is False (``--no-drive``). ``unless``: the error to raise instead of fetching (the tree
    missing or not intact, or not extracted from the pinned archive) -- an argument that only
    matters for the published tree, refused before any request."""
    from lungsegdb_cli.sources.request import sha256_pin

    pin = sha256_pin(sha256)
    if not download:
        if not _has_tree(paths):
            raise not_downloaded(paths)
        return None
    from lungsegdb_cli.checks import manifest
    from lungsegdb_cli.checks.here import tree_intact
    from lungsegdb_cli.sources.download import run as fetch
    from lungsegdb_cli.sources.request import DownloadRequest, with_environment
    from lungsegdb_cli.sources.result import ACTION_UP_TO_DATE

    # Built (and so checked: a missing pin under LUNGSEGDB_REQUIRE_PIN, a bad retries or
    # timeout) before the tree is even looked at, as `lungsegdb download` does.
    request = DownloadRequest.build(
        **with_environment(
            {
                "urls": urls,  # the request checks and converts them (a path is a source too)
                "url": None,
                "drive": drive,
                "sha256": pin,
                "require_pin": None,
                "offline": None,
                "retries": None,
                "timeout": None,
            }
        )
    )
    intact = tree_intact(paths) is not None
    if intact and pin is None:
        return None
    if not intact and _users_tree(paths):
        raise UsageError(
            f"{paths.dataset_dir} is a tree lungsegdb did not write (no manifest beside it): "
            "download=True would replace it, and whatever else the folder holds",
            hint="Give its parent or another folder as the data dir (the download goes to "
            "<it>/LungSegDB), or read this tree as it is with download=False.",
            argument="download",
            path=str(paths.dataset_dir),
        )
    if unless is not None and (not intact or manifest.tree_archive(paths) != pin):
        raise unless()
    progress = ensure(progress)
    if not intact:
        note(progress, f"LungSegDB is not (intact) at {paths.dataset_dir}: downloading it")
    try:
        got = fetch(paths, request, progress=progress)
    except LungSegDBError as exc:  # as the API's boundary: no URL's secret in its chain
        hide_secret_chain(exc)
        raise
    # None when nothing had to be fetched: the pinned tree was there, or another process
    # (another rank of a torchrun job) fetched it while this one waited for the lock
    return None if got.action == ACTION_UP_TO_DATE else got
