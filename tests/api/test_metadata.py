"""``lungsegdb_cli.croissant`` as the API offers it: exported, documented, its example runs
(the document itself: tests/training/test_croissant.py and tests/frameworks)."""

from __future__ import annotations

import doctest

# internals: the module's docstring example is run as a doctest
import lungsegdb_cli as L
from lungsegdb_cli.api import metadata


def test_the_docstring_example_runs() -> None:
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(metadata, optionflags=flags)
    assert result.failed == 0 and result.attempted >= 5


def test_croissant_and_clean_are_exported_and_documented() -> None:
    for name in ("croissant", "clean"):
        fn = getattr(L, name)
        assert name in L.__all__ and callable(fn)
        for section in ("Parameters", "Returns", "Raises", "Examples"):
            assert f"{section}\n    ---" in (fn.__doc__ or ""), f"{name}: no {section}"
    assert L.CroissantResult.__name__ == "CroissantResult"
    assert L.CleanResult.__name__ == "CleanResult"
