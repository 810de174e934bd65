"""The operation that writes a synthetic LungSegDB-shaped tree and archive: :func:`synth`.

See :mod:`lungsegdb_cli.api` for what every operation shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.synthetic.make import SynthResult
    from lungsegdb_cli.utils.progress import Progress

from lungsegdb_cli.api.common import PathLike


def synth(
    out: PathLike,
    *,
    pairs: int | None = None,
    scale: float | None = None,
    seed: int = 0,
    fmt: str = "zip",
    wrap: str | None = None,
    defects: bool = False,
    like_kaggle: bool = False,
    progress: Progress | None = None,
) -> SynthResult:
    """Write a synthetic LungSegDB-shaped tree (and archive) into ``out``, for tests and CI.

    Parameters
    ----------
    out : str or os.PathLike
        The folder to write (created; must be empty or an earlier synth output).
    pairs : int, optional
        Pairs per group (default: the published counts scaled by ``scale``).
    scale : float, optional
        Fraction of the published counts (1.0: 10,000 files).
    seed : int
        Same seed, byte-identical output.
    fmt : str
        ``zip``, ``tar.gz`` or ``none`` (no archive).
    wrap : str, optional
        Put the tree under these folders inside the archive (e.g. ``A/B``), as hand-made
        archives often do.
    defects : bool
        Plant one of each defect ``validate`` reports, and OS junk files it must ignore
        (all listed in ``defects.json``; ``findings`` and ``junk`` split them).
    like_kaggle : bool
        Write every group the way real CT slices arrive: ``raw data`` 512x512 signed
        ``int16`` Hounsfield units (about -2600..+3000) with the corners outside the round
        scan field padded far below air (-2600 or -1800), ``preprocessed data`` a windowed
        ``uint8`` copy of the same slice; masks ``uint8`` 0/255. For testing a pipeline on the
        real format (the default mixes int16, uint8 and RGB and pads at -1024).
    progress : Progress, optional
        Receives progress calls.

    Returns
    -------
    SynthResult
        ``tree``, ``archive`` (path, sha256, size) or None, ``pairs`` (per group, as
        ``validate`` counts them), ``clean_pairs``, ``files``, ``defects``.

    Raises
    ------
    UsageError
        A bad option (``pairs=0``, ``fmt="rar"``), ``out`` is a file, or it holds a
        ``LungSegDB`` folder or archive that synth did not write (exit 2).
    LocalError
        ``out`` cannot be written: disk full, permission denied (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> made = L.synth(work.name + "/s", pairs=1)
    >>> made.files, made.archive.path.name
    (8, 'LungSegDB.zip')
    >>> work.cleanup()
    """
    from lungsegdb_cli.synthetic import make as _synth

    return _synth.synthesize(
        Path(out),
        pairs=pairs,
        scale=scale,
        seed=seed,
        fmt=fmt,
        wrap=wrap,
        defects=defects,
        progress=progress,
        like_kaggle=like_kaggle,
    )
