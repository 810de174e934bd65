"""The public operations of lungsegdb, as :mod:`lungsegdb_cli` exports them.

Every operation takes ``data_dir`` first (a data root holding ``LungSegDB/``, the LungSegDB
folder itself, or None for ``$LUNGSEGDB_HOME`` and then the user cache dir -- the same order as
the command line's ``--data-dir``), keyword-only options, and ``progress=`` (an object with
``start``/``advance``/``done``; default: silent). Each returns a typed result with ``ok`` and
``to_dict()`` (the command's ``--json`` document) and raises a
:class:`~lungsegdb_cli.errors.LungSegDBError` subclass, whose ``exit_code`` is the command's.

Nothing heavy is imported until an operation runs (numpy, requests, tifffile). One module per
group of operations: :mod:`~lungsegdb_cli.api.acquire` (download, extract, publish),
:mod:`~lungsegdb_cli.api.inspect` (verify, validate, stats, info),
:mod:`~lungsegdb_cli.api.handoff` (pairs, split, export, check_export, preview),
:mod:`~lungsegdb_cli.api.metadata` (croissant), :mod:`~lungsegdb_cli.api.housekeeping`
(clean) and :mod:`~lungsegdb_cli.api.synthesize` (synth); :mod:`~lungsegdb_cli.api.common`
holds the one door to a data dir that every operation passes through. These modules are
internal: what :mod:`lungsegdb_cli` re-exports is the API.
"""

from lungsegdb_cli.api.acquire import download, extract, publish
from lungsegdb_cli.api.handoff import check_export, export, list_pairs, pairs, preview, split
from lungsegdb_cli.api.housekeeping import clean
from lungsegdb_cli.api.inspect import info, stats, validate, verify
from lungsegdb_cli.api.metadata import croissant
from lungsegdb_cli.api.synthesize import synth

__all__ = [
    "check_export",
    "clean",
    "croissant",
    "download",
    "export",
    "extract",
    "info",
    "list_pairs",
    "pairs",
    "preview",
    "publish",
    "split",
    "stats",
    "synth",
    "validate",
    "verify",
]
