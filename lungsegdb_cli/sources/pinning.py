"""``--require-pin`` / ``LUNGSEGDB_REQUIRE_PIN=1``: never download unpinned data by accident.

Without a pin, ``download`` accepts whatever archive the source serves and prints the
checksum to pin. In CI that is a trap: a pipeline whose ``LUNGSEGDB_SHA256`` variable is
missing or empty (a typo, a fork without the variable) would silently train on unpinned data.
:func:`require` makes the missing pin a usage error (exit 2) before anything is read or
fetched. An empty value counts as no pin.
"""

from __future__ import annotations

from lungsegdb_cli.errors import UsageError

__all__ = ["ENV_REQUIRE_PIN", "require"]

ENV_REQUIRE_PIN = "LUNGSEGDB_REQUIRE_PIN"


def require(sha256: str | None) -> str:
    """``sha256`` if it is a non-blank pin, else :class:`UsageError` (exit 2)."""
    if sha256 is None or not sha256.strip():
        raise UsageError(
            "No pinned SHA-256, and a pin is required (--require-pin / LUNGSEGDB_REQUIRE_PIN): "
            "refusing to download unpinned data",
            hint=(
                "Pass --sha256 <64 hex digits> or set LUNGSEGDB_SHA256 (in CI: a variable, "
                "not empty); 'lungsegdb info --json' shows the pin of a tree you trust."
            ),
            option="--require-pin",
        )
    return sha256
