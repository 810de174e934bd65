"""Progress renderers: plain lines in CI and pipes, nothing when quiet."""

from __future__ import annotations

import io

import pytest

# internals: exercises utils directly: behaviour the public API does not expose on its own
from lungsegdb_cli.utils import progress


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.5
        return self.t


def test_plain_progress_prints_start_tenths_and_done() -> None:
    stream = io.StringIO()
    p = progress.PlainProgress(stream, clock=FakeClock(), min_interval=0.0)
    p.start("Downloading", 1000, unit="B")
    for _ in range(100):
        p.advance(10)
    p.done()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("Downloading: started")
    assert lines[-1].startswith("Downloading: done")
    assert [line.split(": ")[1].split("%")[0] for line in lines[1:-1]] == [
        str(n) for n in range(10, 100, 10)
    ]


def test_plain_progress_says_one_tile_not_one_tiles() -> None:
    stream = io.StringIO()
    p = progress.PlainProgress(stream, clock=FakeClock(), min_interval=0.0)
    p.start("Previewing", 1, unit="tiles")
    p.advance(1)
    p.done()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Previewing: started (1 tile)"
    assert lines[-1].startswith("Previewing: done, 1 tile in ")
    p.start("Decoding", 1800, unit="files")
    assert stream.getvalue().splitlines()[-1] == "Decoding: started (1,800 files)"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "env", "expected"),
    [
        (Tty(), {}, True),
        (Tty(), {"CI": "true"}, False),
        (io.StringIO(), {}, False),
    ],
)
def test_bars_only_on_a_terminal_outside_ci(stream: io.StringIO, env: dict, expected: bool) -> None:
    assert progress.wants_bars(stream, env) is expected


def test_quiet_gives_null_progress() -> None:
    assert isinstance(progress.make_progress(quiet=True), progress.NullProgress)


def test_non_tty_gives_plain_lines() -> None:
    p = progress.make_progress(quiet=False, console=object(), stream=io.StringIO())
    assert isinstance(p, progress.PlainProgress)


def test_plain_progress_skips_percentages_for_quick_phases() -> None:
    stream = io.StringIO()
    p = progress.PlainProgress(stream, clock=lambda: 0.0)
    p.start("Hashing", 100)
    for _ in range(100):
        p.advance()
    p.done()
    lines = stream.getvalue().splitlines()
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == ["started", "done,"]
