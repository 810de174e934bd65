"""The operation that describes the tree for other tools: :func:`croissant`.

See :mod:`lungsegdb_cli.api` for what every operation shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.training.export.describe import CroissantResult

from lungsegdb_cli.api.common import PathLike, data_paths


def croissant(
    data_dir: PathLike | None = None,
    *,
    out: PathLike | None = None,
    variant: str | None = None,
) -> CroissantResult:
    """The Croissant (MLCommons) metadata of the verified tree, as a JSON-LD document.

    Croissant 1.1: the archive the tree was extracted from as a ``FileObject`` (``@id``
    ``archive``: its Drive download URL or the mirror it came from, redacted; SHA-256, size,
    format), the images and masks as ``FileSet`` s contained in it, one ``RecordSet`` ``pairs``
    (image, mask, image_path, mask_path, stem, variant, version, group, and split when splits
    are in force), the dataset card and the manifest's SHA-256. The same tree gives the same
    bytes. Load it with ``mlcroissant.Dataset(out, mapping=result.mapping)`` (the
    ``[croissant]`` extra installs mlcroissant); see docs/export.md.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root, or the LungSegDB folder itself.
    out : str or os.PathLike, optional
        Write the document here (atomically); not inside the tree. Default: only returned
        (``result.text``, ``result.document``).
    variant : str, optional
        ``preprocessed`` or ``raw`` (default: both).

    Returns
    -------
    CroissantResult
        ``out``, ``sha256`` and ``bytes`` of the document, ``text`` (its bytes), ``document``
        (as a dict), ``pairs``, ``splits_file`` (the splits in force, or None), ``archive``
        (what the document says about it), ``mapping`` (``{"archive": the kept archive's path
        or None}``).

    Raises
    ------
    CheckFailed
        No tree, a tree that does not match its manifest, splits in force that no longer
        match the tree (exit 1); ``ArchiveUnrecorded`` (kind ``archive-unrecorded``, exit 1):
        which archive the tree came from, or where it sits in it, is not recorded.
    UsageError
        ``out`` a folder or inside the tree, an unknown variant (exit 2).

    Examples
    --------
    >>> import json, tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/synth", pairs=1)
    >>> _ = L.download(tmp + "/data", archive=made.archive.path)
    >>> result = L.croissant(tmp + "/data", out=tmp + "/croissant.json")
    >>> result.pairs, result.archive.sha256 == made.archive.sha256
    (4, True)
    >>> doc = json.load(open(result.out))
    >>> doc["conformsTo"], [rs["name"] for rs in doc["recordSet"]][-1]
    ('http://mlcommons.org/croissant/1.1', 'pairs')
    >>> work.cleanup()
    """
    from lungsegdb_cli.training.export import describe

    return describe.croissant(
        data_paths(data_dir, must_exist=True),
        None if out is None else Path(out),
        variant=variant,
    )
