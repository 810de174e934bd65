"""The pieces of a download: blocks handed to the disk, the hashes and the write-back; the
resume sidecar.

The whole download (resume, restart, retries, Ctrl-C) is tested through the local HTTP fake in
``test_fetch.py``; these tests pin the two contracts that the fake cannot show from outside.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from support.fakes import RecordingProgress, finishes

# internals: exercises sources/http, sources/http/resume, ... directly (not public API)
from lungsegdb_cli.sources.http import transfer as fetch
from lungsegdb_cli.sources.http.resume import ResumeState, resumable_offset, state_path
from lungsegdb_cli.sources.http.writeback import WriteBehind

LIMIT = 1000  # the block size under test (RetryPolicy.chunk_size)


class RecordingFile(io.BytesIO):
    """A real in-memory file that remembers the size of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: object) -> int:  # type: ignore[override]
        n = super().write(data)  # type: ignore[arg-type]
        self.writes.append(n)
        return n


class Behind(WriteBehind):
    """A :class:`WriteBehind` whose kernel call is recorded instead of made."""

    def __init__(self, window: int) -> None:
        self.ranges: list[tuple[int, int]] = []
        super().__init__(-1, window=window, starter=self._start)

    def _start(self, fd: int, offset: int, length: int) -> bool:
        self.ranges.append((offset, length))
        return True


def _transfer(tmp_path: Path) -> fetch._Transfer:
    return fetch._Transfer(
        "http://h/a.zip",
        tmp_path / "a.part",
        session=None,
        source_key="k",
        progress=RecordingProgress(),
        sleep=lambda s: None,
        policy=fetch.RetryPolicy(chunk_size=LIMIT),
        before_body=None,
        description="Downloading",
    )


class Body(io.BytesIO):
    """A body read in blocks: ``readinto`` fills the caller's buffer (like
    :class:`lungsegdb_cli.sources.http.body.BodyReader`) and counts the calls; with ``fail_after``
    it raises a connection reset once that many bytes were handed over."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        super().__init__(data)
        self.calls = 0
        self.fail_after = fail_after

    def readinto(self, view: object) -> int:  # type: ignore[override]
        self.calls += 1
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().readinto(view)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "writes"),
    [
        (2500, [1000, 1000, 500]),  # one write (and one hash update) per full block
        (3000, [1000, 1000, 1000]),
        (999, [999]),
        (0, []),
    ],
)
def test_the_body_reaches_disk_and_hashers_in_blocks(
    tmp_path: Path, size: int, writes: list[int]
) -> None:
    data = bytes(i % 251 for i in range(size))
    fh = RecordingFile()
    body = Body(data)
    behind = Behind(window=2 * LIMIT)
    with _transfer(tmp_path) as t:
        t._copy(body, fh, behind)
        digests = t.hasher.finish()
    assert fh.writes == writes and fh.getvalue() == data
    # the write-back of every full window of written bytes was started, in order
    assert behind.ranges == ([(0, 2000)] if size >= 2000 else [])
    assert body.calls == len(writes) + 1  # one read per block, and one that sees the end
    assert (digests.sha256, digests.size, digests.md5) == (
        hashlib.sha256(data).hexdigest(),
        len(data),
        None,  # MD5 only when asked for
    )
    assert t.offset == len(data) and t.head == data[: fetch.HEAD_BYTES]
    assert isinstance(t.progress, RecordingProgress) and t.progress.advanced == len(data)


def test_a_body_that_fails_between_blocks_keeps_every_block_received(tmp_path: Path) -> None:
    data = bytes(i % 251 for i in range(2500))
    fh = RecordingFile()
    with _transfer(tmp_path) as t, pytest.raises(ConnectionResetError):
        t._copy(Body(data, fail_after=2000), fh, Behind(window=LIMIT))
    assert fh.getvalue() == data[:2000] and t.offset == 2000


# ---------------------------------------------------------------------------------------------
# The resume sidecar
# ---------------------------------------------------------------------------------------------
def test_the_sidecar_round_trips_and_keeps_its_format(tmp_path: Path) -> None:
    part = tmp_path / "a.part"
    part.write_bytes(b"x" * 10)
    state = ResumeState(
        source="k",
        validator='"e1"',
        total=99,
        filename="a.zip",
        url="http://h/",
        source_sha256="ab" * 32,
    )
    fetch._write_state(part, state)
    assert json.loads(state_path(part).read_text()) == {
        "filename": "a.zip",
        "source": "k",
        "source_sha256": "ab" * 32,
        "total": 99,
        "url": "http://h/",
        "validator": '"e1"',
    }
    assert ResumeState.load(part) == state
    assert resumable_offset(part, "k") == 10 and resumable_offset(part, "other") == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"source": "k", "total": 5}', ResumeState(source="k", total=5)),
        ('{"source": "k", "total": "5"}', ResumeState()),  # a mistyped field: start afresh
        ('{"source": "k", "total": true}', ResumeState()),  # a bool is no length
        ('{"source": 1}', ResumeState()),
        ('{"source": "k", "validator": ["e"]}', ResumeState()),
        ('{"source": "k", "url": 7}', ResumeState(source="k")),  # url is informative only
        ('["source", "k"]', ResumeState()),
        ("{not json", ResumeState()),
        ("[" * 100_000, ResumeState()),
        ("", ResumeState()),
    ],
)
def test_an_untrustworthy_sidecar_loads_as_the_empty_state(
    tmp_path: Path, text: str, expected: ResumeState
) -> None:
    part = tmp_path / "a.part"
    state_path(part).write_text(text)
    assert ResumeState.load(part) == expected


def test_a_missing_or_fifo_sidecar_loads_as_the_empty_state(tmp_path: Path) -> None:
    part = tmp_path / "a.part"
    assert ResumeState.load(part) == ResumeState()
    os.mkfifo(state_path(part))  # must not block waiting for a writer
    assert finishes(lambda: ResumeState.load(part)) == ResumeState()
