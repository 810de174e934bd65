"""Text from data made safe for a terminal: control characters shown, never obeyed.

Archive member names, file names in a tree and messages quoting them come from whoever made
the data. Printed raw, ``a\\x1b[31mb.TIF`` would recolour (or, with other sequences, rewrite)
the user's terminal. :func:`escape` shows such characters the way ``ls -b`` does: as ``\\x1b``,
``\\x7f``, ``\\u202e``. Bytes that were not valid UTF-8 and reached Python as lone surrogates
(``surrogateescape``) are shown as the byte they were (``\\xff``). Everything else, including
accented letters and other printable Unicode, is left as it is.

Used by the CLI's human output only; ``--json`` output is escaped by ``json.dumps``.
"""

from __future__ import annotations

import re

#: C0 and C1 controls and DEL, line/paragraph separators, bidirectional overrides and
#: isolates (they reorder what is shown), and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def shell_word(word: str) -> str:
    """``word`` as one word for a POSIX shell, in single quotes (a ``'`` in it too), for a
    command a message tells the user to run.

    Examples
    --------
    >>> print(shell_word("/data/Bob's scans"))
    '/data/Bob'"'"'s scans'
    """
    return "'" + word.replace("'", "'\"'\"'") + "'"


def _show(m: re.Match[str]) -> str:
    c = ord(m.group())
    if 0xDC80 <= c <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{c - 0xDC00:02x}"
    if c < 0x100:
        return f"\\x{c:02x}"
    return f"\\u{c:04x}"


def escape(text: object) -> str:
    """``str(text)`` with every control character, bidi control and lone surrogate replaced
    by a visible escape (``\\x1b``, ``\\u202e``, ``\\xff``). Safe to print to a terminal."""
    s = str(text)
    return _UNSAFE.sub(_show, s) if _UNSAFE.search(s) else s
