"""The one parser of the JSON state files: nesting depth bounded, lone surrogates refused.

A data dir (and an export's folder) may be shared, restored from a cache or edited by hand, so
what lungsegdb reads back from it is untrusted input: the commit journal, ``splits.json``, the
provenance record, the manifest's sizes sidecar, a ``.part``'s resume state, the decode cache
and an export's record all go through :func:`loads`. A document that no lungsegdb writer
produces is refused with :class:`StateJSONError` (a ``ValueError``, as a syntax error is), which
each reader turns into what it does with a corrupt file (ignore it, or its documented error):

* nested deeper than :data:`MAX_DEPTH` (lungsegdb writes 6 levels at most): ``json.loads``
  would otherwise recurse once per level and end in ``RecursionError`` (a traceback);
* a string holding a lone surrogate (``"\\ud800"`` escaped in the JSON) other than
  ``\\udc80``-``\\udcff``: such a string cannot name a file or be written as UTF-8. The
  ``\\udc80``-``\\udcff`` range is how Python spells a byte of a file name that is not UTF-8
  (``surrogateescape``), so lungsegdb writes it itself for such paths; it is kept, and shown
  escaped (``\\x80``) wherever it is printed.

Bytes are decoded as strict UTF-8 (a ``UnicodeDecodeError`` is a ``ValueError`` too).
"""

from __future__ import annotations

import json
import re

#: The deepest nesting of arrays and objects accepted (lungsegdb's files nest 6 at most).
MAX_DEPTH = 32

#: What the depth check keeps of a document: quotes, brackets (``{}`` read as ``[]``), and
#: every character that can follow a backslash in an escape (so each escape stays whole).
_ESCAPED = b'"\\/bfnrtu'
_DROP = bytes(c for c in range(256) if c not in b"[]{}" + _ESCAPED)
_SAME_BRACKETS = bytes.maketrans(b"{}", b"[]")
_BRACKETS_ONLY = bytes(c for c in range(256) if c not in b"[]")
#: A lone surrogate that is not a ``surrogateescape`` byte (U+DC80..U+DCFF).
_LONE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


class StateJSONError(ValueError):
    """A state file that parses as JSON but is not one lungsegdb writes."""


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """True if the JSON document ``data`` nests arrays and objects deeper than ``limit``.

    Without parsing, in a few passes of C code: everything but quotes, brackets and escape
    characters is dropped; then escaped backslashes and quotes, what lies between quotes
    (strings) and all but the brackets; then the innermost ``[]`` pairs are removed once per
    level, at most ``limit`` times (a hostile document costs ``limit`` passes over its
    brackets, never a recursion per level). Exact for valid JSON. Brackets that do not
    balance (a file cut short) stop the removal early: such a document is too deep only if
    its unclosed brackets reach past ``limit`` (``json.loads`` would recurse into them before
    it finds the end); else it is left to ``json.loads``, which says where it ends."""
    kept = data.translate(_SAME_BRACKETS, _DROP)
    if b"\\" in kept:
        kept = kept.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(kept.split(b'"')[0::2]).translate(None, _BRACKETS_ONLY)
    for level in range(limit):
        if not brackets:
            return False
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):  # "]]..[[": unbalanced, not JSON
            return level + len(brackets) - len(brackets.rstrip(b"[")) > limit
        brackets = reduced
    return bool(brackets)


def _strings(doc: object) -> list[str]:
    """Every key and string value in ``doc``, without recursion."""
    found: list[str] = []
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def lone_surrogate(doc: object) -> str | None:
    """The first key or string value of ``doc`` holding a lone surrogate outside the
    ``surrogateescape`` range, or None."""
    return next((s for s in _strings(doc) if _LONE.search(s)), None)


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> object:
    """The JSON document in ``data`` (bytes: strict UTF-8).

    Raises ``ValueError``: :class:`StateJSONError` for a document nested deeper than
    ``max_depth`` or holding a lone surrogate (see the module doc), ``JSONDecodeError`` for
    one that is not JSON, ``UnicodeDecodeError`` for bytes that are not UTF-8 (or a ``str``
    holding a raw surrogate). Never ``RecursionError``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    text = raw.decode("utf-8")
    if too_deep(raw, max_depth):
        raise StateJSONError(f"nested deeper than {max_depth} levels")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        # what a cut-off copy or a full disk leaves: the end reached, or a string left open
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise StateJSONError(
                f"not valid JSON: it ends early, after {len(raw):,} bytes (a cut-off file?)"
            ) from None
        raise
    if b"\\ud" in raw or b"\\uD" in raw:  # a surrogate escape is possible: look closer
        bad = lone_surrogate(doc)
        if bad is not None:
            raise StateJSONError(f"a lone surrogate in the string {ascii(bad)[:80]}")
    return doc
