"""Write-back started behind a long write (``_writeback.WriteBehind``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# internals: exercises sources/http/writeback, ... directly (not public API)
from lungsegdb_cli.sources.http.writeback import WriteBehind


class Recorder:
    def __init__(self, answers: list[bool] | None = None) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.answers = answers

    def __call__(self, fd: int, offset: int, length: int) -> bool:
        self.ranges.append((offset, length))
        return self.answers.pop(0) if self.answers else True


@pytest.mark.parametrize(
    ("offset", "writes", "ranges"),
    [
        (0, [3, 3, 3], [(0, 6)]),  # a window is started once it is full, not before
        (0, [4, 4], [(0, 4), (4, 4)]),
        (100, [10], [(100, 10)]),  # a resumed file starts where its bytes end
        (0, [1, 1, 1], []),
        (0, [], []),
    ],
)
def test_each_full_window_is_started_once_in_order(
    offset: int, writes: list[int], ranges: list[tuple[int, int]]
) -> None:
    rec = Recorder()
    behind = WriteBehind(7, offset, window=4, starter=rec)
    for n in writes:
        behind.wrote(n)
    assert rec.ranges == ranges
    assert behind.started == sum(n for _, n in ranges)


def test_a_refusal_turns_it_off() -> None:
    rec = Recorder(answers=[False])
    behind = WriteBehind(7, window=2, starter=rec)
    for _ in range(5):
        behind.wrote(2)
    assert rec.ranges == [(0, 2)] and behind.started == 0  # asked once, never again


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_on_linux_the_kernel_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUNGSEGDB_SYNC", raising=False)
    with open(tmp_path / "a.bin", "wb") as fh:
        behind = WriteBehind(fh.fileno(), window=1 << 16)
        for _ in range(4):
            fh.write(b"x" * (1 << 16))
            fh.flush()
            behind.wrote(1 << 16)
    assert behind.started == 4 << 16  # the call exists and the file system accepted it
    assert os.path.getsize(tmp_path / "a.bin") == 4 << 16


@pytest.mark.parametrize("value", ["0", "off", "FALSE", "no"])
def test_lungsegdb_sync_off_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LUNGSEGDB_SYNC", value)
    with open(tmp_path / "a.bin", "wb") as fh:
        behind = WriteBehind(fh.fileno(), window=1)
        fh.write(b"xy")
        fh.flush()
        behind.wrote(2)
    assert behind.started == 0
