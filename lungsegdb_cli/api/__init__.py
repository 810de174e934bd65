"""The public operations of lungsegdb, as :mod:`lungsegdb_cli` exports them.

Every operation takes ``data_dir`` first (a data root holding ``LungSegDB/``, the LungSegDB
folder itself, or None for ``$LUNGSEGDB_HOME`` and then the user cache dir -- the same order as
the command line's ``--data-dir``), keyword-only options, and ``progress=`` (an object with
``start``/``advance``/``done``; default: silent). Each returns a typed result with ``ok`` and
``to_dict()`` (the command's ``--json`` document; ``pairs`` returns a plain list of ``Pair``
records) and raises a
:class:`~lungsegdb_cli.errors.LungSegDBError` subclass, whose ``exit_code`` is the command's.

Nothing heavy is imported until an operation runs (numpy, requests, tifffile), and an
operation's module only when the operation is first looked up. One module per
group of operations: :mod:`~lungsegdb_cli.api.acquire` (download, extract, publish),
:mod:`~lungsegdb_cli.api.inspect` (verify, validate, stats, info),
:mod:`~lungsegdb_cli.api.handoff` (pairs, split, check_export, preview),
:mod:`~lungsegdb_cli.api.exporting` (export),
:mod:`~lungsegdb_cli.api.metadata` (croissant), :mod:`~lungsegdb_cli.api.housekeeping`
(clean) and :mod:`~lungsegdb_cli.api.synthesize` (synth); :mod:`~lungsegdb_cli.api.common`
holds the one door to a data dir that every operation passes through. These modules are
internal: what :mod:`lungsegdb_cli` re-exports is the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.api.acquire import download, extract, publish
    from lungsegdb_cli.api.exporting import export
    from lungsegdb_cli.api.handoff import (
        check_export,
        list_pairs,
        pairs,
        preview,
        split,
    )
    from lungsegdb_cli.api.housekeeping import clean
    from lungsegdb_cli.api.inspect import info, stats, validate, verify
    from lungsegdb_cli.api.metadata import croissant
    from lungsegdb_cli.api.synthesize import synth

#: Each operation's module, imported on first use: ``verify`` costs the import of
#: :mod:`~lungsegdb_cli.api.inspect` and what it needs, not of every group's.
GROUPS = {
    "download": "acquire",
    "extract": "acquire",
    "publish": "acquire",
    "check_export": "handoff",
    "export": "exporting",
    "list_pairs": "handoff",
    "pairs": "handoff",
    "preview": "handoff",
    "split": "handoff",
    "clean": "housekeeping",
    "info": "inspect",
    "stats": "inspect",
    "validate": "inspect",
    "verify": "inspect",
    "croissant": "metadata",
    "synth": "synthesize",
}


def __getattr__(name: str) -> Any:
    group = GROUPS.get(name)
    if group is None:
        raise AttributeError(f"module 'lungsegdb_cli.api' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"lungsegdb_cli.api.{group}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(GROUPS))


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
