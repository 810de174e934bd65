"""lungsegdb: get the LungSegDB lung CT segmentation dataset onto a machine, verified.

The package is a library first; the ``lungsegdb`` command is a thin renderer over it.

Operations (each takes ``data_dir`` first, keyword-only options and ``progress=``; each
returns a typed result with ``ok`` and ``to_dict()``, the command's ``--json`` document --
except :func:`pairs`, which returns a plain ``list`` of :class:`Pair` records):

* :func:`download` -- fetch, check the SHA-256, extract, write the manifest
* :func:`extract` -- extract an archive into the documented tree
* :func:`verify` -- the archive and every file against the manifest
* :func:`validate` -- pairs, readability, shapes, mask contents
* :func:`stats` -- per-group counts, shapes, dtypes, exact intensity statistics
* :func:`info` -- the dataset card and the local state
* :func:`synth` -- a synthetic LungSegDB-shaped tree and archive
* :func:`pairs` -- every image/mask pair, as a ``list`` of :class:`Pair` records
  (:func:`load_pair`, :class:`PairDataset` load them as arrays)
* :func:`split` -- train/val/test splits by a keyed hash of each group, written to splits.json
* :func:`export` -- the pairs in nnU-Net / MONAI / folders / CSV / Croissant layout
  (:func:`check_export`)
* :func:`croissant` -- the Croissant (MLCommons) metadata of the verified tree
* :func:`clean` -- remove what is safe to remove from the data dir (never the tree)
* :func:`preview` -- a PNG montage of slices with their mask outline (or what validate flagged)

Errors are :class:`LungSegDBError` subclasses carrying the command's exit code
(``exc.exit_code``), a ``message``, a ``hint`` and ``context``: an ``OSError`` nothing mapped
is the :class:`LocalError` the command gives (exit 5), a NUL byte in an argument a
:class:`UsageError` (exit 2).

In five lines::

    import lungsegdb_cli as L
    L.download("data", archive="LungSegDB.zip", sha256="<pin>")
    assert L.verify("data").ok
    report = L.validate("data")
    groups = L.stats("data").to_dict()["groups"]

Importing the package is cheap and has no side effects: no directories are created, and
numpy, requests and tifffile are imported only when an operation needs them. What this module
exports (``__all__``) is the stable API; the other modules are internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lungsegdb_cli._version import __version__
from lungsegdb_cli.errors import (
    ArchiveError,
    CheckFailed,
    ChecksumMismatch,
    DiskFullError,
    DownloadError,
    DownloadTooLarge,
    DownloadTooSlow,
    DrivePageError,
    ExitCode,
    LocalError,
    LockTimeout,
    LungSegDBError,
    MirrorRefused,
    NotDownloaded,
    NothingToVerify,
    OfflineError,
    ProvenanceCorrupt,
    UnsafeArchiveError,
    UsageError,
)

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.api import (
        check_export,
        clean,
        croissant,
        download,
        export,
        extract,
        info,
        pairs,
        preview,
        publish,
        split,
        stats,
        synth,
        validate,
        verify,
    )
    from lungsegdb_cli.api.housekeeping import CleanResult
    from lungsegdb_cli.archive.extract import ExtractResult
    from lungsegdb_cli.checks.info import InfoResult
    from lungsegdb_cli.checks.stats import GroupStats, StatsResult
    from lungsegdb_cli.checks.validate import Finding, ValidateResult
    from lungsegdb_cli.checks.verify import VerifyResult
    from lungsegdb_cli.sources.publish import PublishResult
    from lungsegdb_cli.sources.result import DownloadResult
    from lungsegdb_cli.synthetic.make import SynthResult
    from lungsegdb_cli.training.export.check import ExportCheckResult
    from lungsegdb_cli.training.export.describe import CroissantResult
    from lungsegdb_cli.training.export.record import ExportResult
    from lungsegdb_cli.training.pairs import Pair, PairDataset, PairsResult, load_pair
    from lungsegdb_cli.training.preview import PreviewResult
    from lungsegdb_cli.training.split import SplitResult

#: The operations and result types, imported on first use (``lungsegdb_cli.verify`` imports
#: the module of the inspecting operations, not every operation's): keeps import cheap.
_LAZY = {
    "check_export": "lungsegdb_cli.api",
    "clean": "lungsegdb_cli.api",
    "croissant": "lungsegdb_cli.api",
    "download": "lungsegdb_cli.api",
    "export": "lungsegdb_cli.api",
    "extract": "lungsegdb_cli.api",
    "info": "lungsegdb_cli.api",
    "pairs": "lungsegdb_cli.api",
    "preview": "lungsegdb_cli.api",
    "publish": "lungsegdb_cli.api",
    "split": "lungsegdb_cli.api",
    "stats": "lungsegdb_cli.api",
    "synth": "lungsegdb_cli.api",
    "validate": "lungsegdb_cli.api",
    "verify": "lungsegdb_cli.api",
    "CleanResult": "lungsegdb_cli.api.housekeeping",
    "DownloadResult": "lungsegdb_cli.sources.result",
    "ExtractResult": "lungsegdb_cli.archive.extract",
    "InfoResult": "lungsegdb_cli.checks.info",
    "VerifyResult": "lungsegdb_cli.checks.verify",
    "ValidateResult": "lungsegdb_cli.checks.validate",
    "Finding": "lungsegdb_cli.checks.validate",
    "StatsResult": "lungsegdb_cli.checks.stats",
    "GroupStats": "lungsegdb_cli.checks.stats",
    "SynthResult": "lungsegdb_cli.synthetic.make",
    "Pair": "lungsegdb_cli.training.pairs",
    "PairDataset": "lungsegdb_cli.training.pairs",
    "PairsResult": "lungsegdb_cli.training.pairs",
    "load_pair": "lungsegdb_cli.training.pairs",
    "SplitResult": "lungsegdb_cli.training.split",
    "ExportResult": "lungsegdb_cli.training.export.record",
    "ExportCheckResult": "lungsegdb_cli.training.export.check",
    "CroissantResult": "lungsegdb_cli.training.export.describe",
    "PreviewResult": "lungsegdb_cli.training.preview",
    "PublishResult": "lungsegdb_cli.sources.publish",
}


#: The functions handed out with the command line's net around them
#: (:func:`lungsegdb_cli.api.common.boundary`: a NUL byte in an argument is a UsageError, an
#: OSError nothing mapped the LocalError the command gives): every operation, and load_pair.
_NETTED = frozenset(n for n, m in _LAZY.items() if m == "lungsegdb_cli.api") | {"load_pair"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lungsegdb_cli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    if name in _NETTED:
        from lungsegdb_cli.api.common import boundary

        value = boundary(value)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ArchiveError",
    "CheckFailed",
    "ChecksumMismatch",
    "CleanResult",
    "CroissantResult",
    "DiskFullError",
    "DownloadError",
    "DownloadResult",
    "DownloadTooLarge",
    "DownloadTooSlow",
    "DrivePageError",
    "ExitCode",
    "ExportCheckResult",
    "ExportResult",
    "ExtractResult",
    "Finding",
    "GroupStats",
    "InfoResult",
    "LocalError",
    "LockTimeout",
    "LungSegDBError",
    "MirrorRefused",
    "NotDownloaded",
    "NothingToVerify",
    "OfflineError",
    "Pair",
    "PairDataset",
    "PairsResult",
    "PreviewResult",
    "ProvenanceCorrupt",
    "PublishResult",
    "SplitResult",
    "StatsResult",
    "SynthResult",
    "UnsafeArchiveError",
    "UsageError",
    "ValidateResult",
    "VerifyResult",
    "__version__",
    "check_export",
    "clean",
    "croissant",
    "download",
    "export",
    "extract",
    "info",
    "load_pair",
    "pairs",
    "preview",
    "publish",
    "split",
    "stats",
    "synth",
    "validate",
    "verify",
]
