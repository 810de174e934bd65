"""_tuning.decode_switches: the interpreter-wide settings the CLI applies around a decode pass."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

# internals: exercises cli directly: behaviour the public API does not expose on its own
from lungsegdb_cli.cli import tuning as _perf


@pytest.fixture
def settings() -> Iterator[None]:
    """Whatever a test does, the interpreter is left as it was found."""
    interval, collecting = sys.getswitchinterval(), gc.isenabled()
    yield
    sys.setswitchinterval(interval)
    (gc.enable if collecting else gc.disable)()


@pytest.mark.usefixtures("settings")
@pytest.mark.parametrize(
    ("collecting", "interval", "inside"),
    [
        (True, 0.005, _perf.SWITCH_INTERVAL),  # the default: shortened
        (False, 0.005, _perf.SWITCH_INTERVAL),  # the collector stays off after
        (True, 0.0001, 0.0001),  # already shorter: kept
    ],
)
@pytest.mark.parametrize("fails", [False, True])
def test_switches_apply_inside_and_restore_after(
    collecting: bool, interval: float, inside: float, fails: bool
) -> None:
    sys.setswitchinterval(interval)
    (gc.enable if collecting else gc.disable)()
    raised = False
    try:
        with _perf.decode_switches():
            seen = (gc.isenabled(), sys.getswitchinterval())
            if fails:
                raise RuntimeError("interrupted")
    except RuntimeError:
        raised = True
    assert raised is fails
    assert seen == (False, pytest.approx(inside, abs=2e-6))  # kept in whole microseconds
    assert gc.isenabled() is collecting
    assert sys.getswitchinterval() == pytest.approx(interval, abs=2e-6)


def test_the_block_size_copy_matches_the_archive_modules() -> None:
    """tuning keeps its own copy of the extraction block size (no archive import at start-up)."""
    from lungsegdb_cli.archive.base import CHUNK

    assert _perf.CHUNK == CHUNK
