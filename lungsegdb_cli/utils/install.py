"""How to install lungsegdb and its extras, said the same way everywhere.

``lungsegdb-cli`` is not published on any package index, so no hint may tell to install it
by that name alone: that fails at its first line. The forms that work are a checkout
(``pip install '.[plot]'``), a built wheel (``python -m build`` makes
``dist/lungsegdb_cli-<version>-py3-none-any.whl``) and a git tag
(``pip install "lungsegdb-cli[plot] @ git+<repository>@v<version>"``, see README.md).
"""

from __future__ import annotations

__all__ = ["WHEEL", "extra_hint"]

#: The wheel ``python -m build`` writes (``<version>``: the release's).
WHEEL = "lungsegdb_cli-<version>-py3-none-any.whl"


def extra_hint(extra: str, alone: str) -> str:
    """The hint for a missing optional extra ``extra`` (``plot``, ``7z``, ``rar``); ``alone``
    says how to install just the library it needs (``pip install matplotlib``)."""
    return (
        f"Install the [{extra}] extra: pip install '.[{extra}]' in a checkout of lungsegdb "
        f"(or pip install '{WHEEL}[{extra}]'), or {alone}."
    )
