"""The text of an export's record (``lungsegdb-export.json``): readable, and written fast.

The record has one entry per exported file (10,000 at full scale). ``json.dumps(indent=...)``
runs Python's pure-Python encoder (the C one takes no indent), key by key: ~0.5 s of one
core for the whole record, while both cores could be placing files. :func:`dumps` indents
the top level (and small values) as before, but writes each entry of a long list or mapping
on one line through the C encoder: the same document, ~10x faster, and one line per file.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps"]

#: Lists and mappings with more items than this get one line per item.
ONE_PER_LINE = 16

_compact = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
_key = json.JSONEncoder(ensure_ascii=True).encode


def _value(value: Any) -> str:
    """``value`` at depth 1: one item per line if it is long, else indented as json does."""
    if isinstance(value, list) and len(value) > ONE_PER_LINE:
        return "[\n  " + ",\n  ".join(_compact(item) for item in value) + "\n ]"
    if isinstance(value, dict) and len(value) > ONE_PER_LINE:
        items = (f"{_key(str(k))}: {_compact(v)}" for k, v in value.items())
        return "{\n  " + ",\n  ".join(items) + "\n }"
    # json.dumps(indent=1) of a nested value, shifted one level in (JSON text holds no
    # newline but the ones indentation puts there)
    return json.dumps(value, indent=1, ensure_ascii=True).replace("\n", "\n ")


def dumps(doc: dict[str, Any]) -> str:
    """``doc`` as JSON text (ASCII, ending in a newline): the top level indented one space,
    long lists and mappings one item per line.

    Examples
    --------
    >>> text = dumps({"kind": "x", "files": [{"path": f"f{i}"} for i in range(20)]})
    >>> json.loads(text)["files"][19]
    {'path': 'f19'}
    >>> text.splitlines()[3]
    '  {"path": "f1"},'
    """
    if not doc:
        return "{}\n"
    body = ",\n".join(f" {_key(str(k))}: {_value(v)}" for k, v in doc.items())
    return "{\n" + body + "\n}\n"
