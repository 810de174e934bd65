"""CSV text that a spreadsheet will not run: cells escaped against formula injection.

File names become CSV cells (a pair's stem, its paths), and whoever made the data chose them.
Opened in Excel, LibreOffice or Google Sheets, a cell starting with ``=``, ``+``, ``-`` or
``@`` (or a tab or carriage return) is read as a formula: a slice named ``=HYPERLINK(...).TIF``
or ``@cmd.TIF`` would run in the reader's spreadsheet. As OWASP recommends, such a text cell
is written with a single quote in front, and quoted: ``=cmd`` becomes ``"'=cmd"``, which a
spreadsheet shows as the text ``'=cmd`` and never evaluates.

Numbers stay readable: ``int`` and ``float`` values, and text that is a plain decimal number
(``-12``, ``-0.5``, ``1e-3``: the intensities of ``stats --csv``), are written as they are.
Other cells are quoted only where CSV needs it (a comma, a quote, a line break), as the
``csv`` module does.

:func:`encode` writes bytes of a file name that were not UTF-8 (``surrogateescape``) back as
the bytes they were, so a path in the CSV names the same file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NEEDS_QUOTES = re.compile('[,"\r\n]')


def cell(value: object) -> str:
    """One CSV field: ``None`` is empty, numbers as they are, text escaped and quoted as
    needed (see the module doc)."""
    if value is None:
        return ""
    text = repr(value) if isinstance(value, float) else str(value)  # as csv writes them
    if not isinstance(value, str) or _NUMBER.fullmatch(text):
        return text
    if text.startswith(FORMULA_START):
        return "\"'" + text.replace('"', '""') + '"'
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def rows_text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """The CSV text of ``header`` and ``rows``, one ``\\n``-terminated line each."""
    lines = [",".join(map(cell, header))]
    lines += [",".join(map(cell, row)) for row in rows]
    return "\n".join(lines) + "\n"


def encode(text: str) -> bytes:
    """``text`` as UTF-8, a file name's bytes that were not UTF-8 as they were (any other lone
    surrogate, which no file name holds, backslash-escaped rather than an error)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")
