"""No message of the package puts a number straight before a plural noun, or says "(s)": a
count goes through ``utils.units.counted`` (or render's ``_n``, which calls it), so "1 pairs",
"1 groups" and "pair(s)" cannot come back. Read from the source (the f-strings' syntax
trees), so a message no test triggers is checked too."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lungsegdb_cli"

#: The nouns the tool counts things with (bytes, pages, channels and pixel values are sizes
#: or limits, never 1 where they are said).
NOUNS = (
    "pairs",
    "files",
    "groups",
    "stems",
    "rows",
    "entries",
    "findings",
    "defects",
    "slices",
    "tiles",
    "items",
    "paths",
    "attempts",
    "members",
    "cases",
    "images",
    "masks",
    "folders",
    "sources",
    "errors",
    "warnings",
    "splits",
    "scans",
    "workers",
    "seconds",
    "shards",
    "records",
    "parts",
)
_AFTER_NUMBER = re.compile(rf"^ (?:\w+ )?(?:{'|'.join(NOUNS)})\b")
_MAYBE_PLURAL = re.compile(r"\w\(s\)")  # "pair(s)"; "http(s)" is a scheme, not a count
_NOT_A_COUNT = re.compile(r"https?\(s\)")


def _offenders(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr):
            continue
        parts = node.values
        for a, b in itertools.pairwise(parts):
            if (
                isinstance(a, ast.FormattedValue)
                and isinstance(b, ast.Constant)
                and _AFTER_NUMBER.match(str(b.value))
            ):
                found.append(f"{node.lineno}: {{{ast.unparse(a.value)}}}{b.value[:30]}")
        for part in parts:
            text = str(part.value) if isinstance(part, ast.Constant) else ""
            if _MAYBE_PLURAL.search(_NOT_A_COUNT.sub("", text)):
                found.append(f"{node.lineno}: {text[:40]}")
    return found


def test_counts_go_through_the_one_helper() -> None:
    bad = {
        str(path.relative_to(PACKAGE)): hits
        for path in sorted(PACKAGE.rglob("*.py"))
        if (hits := _offenders(path.read_text(encoding="utf-8")))
    }
    assert bad == {}, f"route these counts through utils.units.counted: {bad}"


def test_the_guard_bites() -> None:
    """The patterns the issue found are caught; the helper's output is not."""
    assert _offenders('n = 1\nx = f"{n:,} pairs of the tree"\n')
    assert _offenders('n = 1\nx = f"it makes {n} groups"\n')
    assert _offenders('n = 1\nx = f"{n} file(s) differ"\n')
    assert _offenders('n = 1\nx = f"{n} unreadable files skipped"\n')
    assert not _offenders("x = f\"{counted(n, 'pair')} of the tree\"\n")
    assert not _offenders('x = f"Not an http(s) URL: {u}"\n')
    assert not _offenders('x = f"{n:,} bytes"\n')
