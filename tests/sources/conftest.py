"""Fixtures every sources test uses: the synth archive's bytes and its pin."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def archive(synth_result: Any) -> bytes:
    """The bytes of the session's synth archive (read once)."""
    return Path(synth_result.archive.path).read_bytes()


@pytest.fixture(scope="session")
def pin(archive: bytes) -> str:
    """Its SHA-256."""
    return hashlib.sha256(archive).hexdigest()
