"""Where things live on disk: the data root, the tree, the manifest, the state.

Resolution order of the data root: ``--data-dir`` > ``$LUNGSEGDB_HOME`` > the user cache dir
for ``lungsegdb`` (platformdirs; ``~/.cache/lungsegdb`` on Linux, honouring XDG_CACHE_HOME).
Nothing here creates a directory; callers that write call :meth:`DataPaths.ensure_state_dir`.

Layout under a data root ``<root>``::

    <root>/LungSegDB/                the documented tree
    <root>/LungSegDB.sha256          per-file manifest, ``sha256sum -c`` format,
                                     paths relative to the LungSegDB folder
    <root>/downloads/                the archive (kept) and partial downloads (``*.part``)
    <root>/.lungsegdb/               tool state: provenance.json, manifest sizes, locks,
                                     the commit journal, the decode cache
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.errors import UsageError

ENV_HOME = "LUNGSEGDB_HOME"
APP_NAME = "lungsegdb"
STATE_DIRNAME = ".lungsegdb"


def default_root(env: Mapping[str, str] | None = None) -> Path:
    """The user cache dir for lungsegdb (platformdirs), honouring ``XDG_CACHE_HOME``."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CACHE_HOME")
    if xdg and os.name == "posix" and not _is_macos():
        return Path(xdg) / APP_NAME
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def _is_macos() -> bool:
    import sys

    return sys.platform == "darwin"


@dataclass(frozen=True)
class DataPaths:
    """Every path the tool uses, derived from the data root and the tree folder.

    The derived paths are computed once, when the object is made, and are plain attributes
    (not properties): a look-up is no call into this module, wherever it is made.

    Examples
    --------
    >>> p = DataPaths(root=Path("/d"), dataset_dir=Path("/d/LungSegDB"))
    >>> p.manifest, p.journal
    (PosixPath('/d/LungSegDB.sha256'), PosixPath('/d/.lungsegdb/journal.json'))
    """

    root: Path
    dataset_dir: Path
    #: the per-file manifest, beside the tree
    manifest: Path = field(init=False, repr=False, compare=False)
    #: the tool's state folder, ``.lungsegdb/``
    state_dir: Path = field(init=False, repr=False, compare=False)
    #: JSON record of where the archive came from and its checksums
    provenance: Path = field(init=False, repr=False, compare=False)
    #: JSON sidecar of the manifest: file sizes, for ``verify --quick``
    manifest_sizes: Path = field(init=False, repr=False, compare=False)
    #: the record of the files download moved aside (``downloads/*.rejected``) it made
    rejected: Path = field(init=False, repr=False, compare=False)
    #: the writer lock (exclusive, held by download/extract for their whole run)
    lock: Path = field(init=False, repr=False, compare=False)
    #: the generation lock: shared for readers, exclusive for a commit's renames
    tree_lock: Path = field(init=False, repr=False, compare=False)
    #: the commit journal (:mod:`lungsegdb_cli.state.commit`); present only mid-commit
    journal: Path = field(init=False, repr=False, compare=False)
    #: decode cache shared by validate and stats (keyed on path, size, mtime)
    cache_dir: Path = field(init=False, repr=False, compare=False)
    #: the archive (kept) and partial downloads (``*.part``)
    downloads_dir: Path = field(init=False, repr=False, compare=False)
    #: what the tool keeps under the data root, by name: the tree, the manifest, the state
    #: folder, the downloads folder (a file the user asks for is never written there)
    own: dict[str, Path] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parent = self.dataset_dir.parent
        state = parent / STATE_DIRNAME
        derived = {
            "manifest": parent / f"{self.dataset_dir.name}.sha256",
            "state_dir": state,
            "provenance": state / "provenance.json",
            "manifest_sizes": state / "manifest-sizes.json",
            "rejected": state / "rejected.json",
            "lock": state / "lock",
            "tree_lock": state / "tree.lock",
            "journal": state / "journal.json",
            "cache_dir": state / "cache",
            "downloads_dir": self.root / "downloads",
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)
        own = {
            "dataset tree": self.dataset_dir,
            "manifest": self.manifest,
            "state folder": state,
            "downloads folder": self.downloads_dir,
        }
        object.__setattr__(self, "own", own)

    def ensure_state_dir(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir


def looks_like_tree(path: Path) -> bool:
    """True if ``path`` holds at least one leaf folder of the documented tree, however its
    three levels are spelt (``raw data/V1/CT_Images``, ``Preprocessed_Data/v2/images``): a
    variant folder alone is not enough -- ``data/raw`` or ``data/preprocessed`` of a project's
    own layout is no LungSegDB tree."""
    try:
        return any(
            any(
                _holds(version, dataset.canonical_kind)
                for version in variant.iterdir()
                if version.is_dir() and dataset.canonical_version(version.name) is not None
            )
            for variant in path.iterdir()
            if variant.is_dir() and dataset.canonical_variant(variant.name) is not None
        )
    except OSError:
        return False


def _holds(folder: Path, canonical: Callable[[str], str | None]) -> bool:
    """``folder`` holds a folder whose name ``canonical`` knows."""
    return any(c.is_dir() and canonical(c.name) is not None for c in folder.iterdir())


def managed(tree: Path) -> bool:
    """``tree`` is a tree lungsegdb wrote: its manifest lies beside it, or it is the
    ``LungSegDB`` folder of a data root whose state records a download or an extraction (the
    provenance, the manifest's sizes: its manifest deleted, say, ``extract --force`` repairs
    it in place). Not for lungsegdb's state folder alone: a
    reader makes its decode cache there beside any tree it reads."""
    at = DataPaths(root=tree.parent, dataset_dir=tree)
    if at.manifest.is_file():
        return True
    recorded = at.provenance.is_file() or at.manifest_sizes.is_file()
    return tree.name == dataset.DATASET_DIRNAME and recorded


def resolve(
    data_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    must_exist: bool = False,
    writing: bool = False,
) -> DataPaths:
    """Resolve the data root and the tree folder.

    ``data_dir`` may be a data root (holding ``LungSegDB/``), the LungSegDB folder itself, or
    any folder laid out like it (:func:`looks_like_tree`). For a command that writes the tree
    (``writing``: download, extract) such a folder is the tree only if lungsegdb wrote it
    (:func:`managed`: its manifest beside it, or its record); any other folder is a data root,
    its tree ``<it>/LungSegDB``: a folder of the user's is never replaced by an extraction. None
    means ``$LUNGSEGDB_HOME`` (an empty variable counts as unset), else the user cache dir. An
    empty or blank ``data_dir`` (``--data-dir ""``: an unset variable, typically) is a
    :class:`UsageError` (exit 2), never the current folder nor the default. With ``must_exist``
    an explicit path that does not exist is a :class:`UsageError` (exit 2).
    """
    env = os.environ if env is None else env
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise UsageError(
            f"data_dir must be a path (str or os.PathLike), not {type(data_dir).__name__}",
            hint="Give data_dir as a path (str or os.PathLike).",
            argument="data_dir",
        )
    # os.fspath: the path an os.PathLike names (str() of one that is not a Path is its repr)
    if data_dir is not None and not os.fspath(data_dir).strip():
        raise UsageError(
            f"The data dir {os.fspath(data_dir)!r} is empty (an unset variable?): an empty "
            "--data-dir would name the current folder",
            hint=(
                "Name the data dir, or leave --data-dir out (data_dir=None in Python) for "
                "$LUNGSEGDB_HOME, else the user cache dir."
            ),
        )
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        explicit = True
    elif env.get(ENV_HOME):
        root = Path(env[ENV_HOME]).expanduser()
        explicit = True
    else:
        root = default_root(env)
        explicit = False
    root = root.absolute()
    if root.exists() and not root.is_dir():
        raise UsageError(
            f"Data dir is not a directory: {root}",
            hint="Pass a folder with --data-dir (or set LUNGSEGDB_HOME).",
            path=str(root),
        )
    if must_exist and explicit and not root.exists():
        raise UsageError(
            f"Data dir does not exist: {root}",
            hint="Check the path, or run 'lungsegdb download' to create it.",
            path=str(root),
        )
    nested = root / dataset.DATASET_DIRNAME
    if root.is_symlink() and not nested.is_dir():
        real = Path(os.path.realpath(root))
        if real.is_dir() and looks_like_tree(real) and managed(real):
            return DataPaths(root=real.parent, dataset_dir=real)  # the tree the link names
    if (
        not nested.is_dir()
        and root.is_dir()
        and looks_like_tree(root)
        and (not writing or managed(root))
    ):
        return DataPaths(root=root.parent, dataset_dir=root)
    return DataPaths(root=root, dataset_dir=nested)
