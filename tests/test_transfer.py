"""The pieces of a download: blocks handed to the disk and the hash threads, the resume sidecar.

The whole download (resume, restart, retries, Ctrl-C) is tested through the local HTTP fake in
``test_fetch.py``; these tests pin the two contracts that the fake cannot show from outside.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fakes import RecordingProgress, finishes

from lungsegdb_cli import _fetch as fetch
from lungsegdb_cli._resume import ResumeState, resumable_offset, state_path

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


def _chunks(sizes: list[int]) -> list[bytes]:
    return [bytes([i % 251]) * n for i, n in enumerate(sizes)]


@pytest.mark.parametrize(
    ("sizes", "writes"),
    [
        ([100] * 25, [1000, 1000, 500]),  # small records are gathered into full blocks
        ([300, 0, 300, 300, 300], [900, 300]),  # empty chunks are skipped
        ([100, 1000, 100], [100, 1000, 100]),  # a full-size chunk is its own block
        ([2500], [2500]),  # so is a larger one (never split, never copied)
        ([], []),
    ],
)
def test_chunks_reach_disk_and_hashers_in_blocks(
    tmp_path: Path, sizes: list[int], writes: list[int]
) -> None:
    chunks = _chunks(sizes)
    data = b"".join(chunks)
    fh = RecordingFile()
    with _transfer(tmp_path) as t:
        t._copy(iter(chunks), fh)
        digests = t.hasher.finish()
    assert fh.writes == writes and fh.getvalue() == data
    assert (digests.sha256, digests.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert t.offset == len(data) and t.head == data[: fetch.HEAD_BYTES]
    assert isinstance(t.progress, RecordingProgress) and t.progress.advanced == len(data)


def test_a_body_that_fails_mid_block_keeps_every_byte_received(tmp_path: Path) -> None:
    chunks = _chunks([300, 300, 300])

    def dropping() -> Iterator[bytes]:
        yield from chunks
        raise ConnectionResetError("connection reset by peer")

    fh = RecordingFile()
    with _transfer(tmp_path) as t, pytest.raises(ConnectionResetError):
        t._copy(dropping(), fh)
    assert fh.getvalue() == b"".join(chunks) and t.offset == 900


# ---------------------------------------------------------------------------------------------
# The resume sidecar
# ---------------------------------------------------------------------------------------------
def test_the_sidecar_round_trips_and_keeps_its_format(tmp_path: Path) -> None:
    part = tmp_path / "a.part"
    part.write_bytes(b"x" * 10)
    state = ResumeState(source="k", validator='"e1"', total=99, filename="a.zip", url="http://h/")
    state.save(part)
    assert json.loads(state_path(part).read_text()) == {
        "filename": "a.zip",
        "source": "k",
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
