"""The provenance record: one typed reader and writer, a document that reads back as written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# internals: exercises state, state/provenance, ... directly (not public API)
from lungsegdb_cli.state import provenance
from lungsegdb_cli.state.provenance import FIELDS, Provenance

SHA = "ab" * 32

#: Documents as ``download`` and tools write them, each of which must read back unchanged.
DOCUMENTS: dict[str, dict[str, object]] = {
    "network": {
        "path": "downloads/LungSegDB.zip",
        "size": 22,
        "sha256": SHA,
        "md5": "0" * 32,
        "source": "https://example.org/x",
        "final_url": None,
        "drive_id": None,
        "link": "https://example.org/x",
        "tool_version": "1.0",
        "time": "2026-01-01T00:00:00Z",
        "pinned": False,
    },
    "local": {
        "path": "/somewhere/mine.zip",
        "size": 22,
        "sha256": SHA,
        "md5": "0" * 32,
        "source": "file:///somewhere/mine.zip",
        "drive_id": None,
        "link": None,
        "tool_version": "1.0",
        "time": "2026-01-01T00:00:00Z",
        "pinned": True,
    },
    "two-keys": {"path": "gone.zip", "sha256": SHA},
    "unknown-key": {"path": "x.zip", "from_a_newer_tool": {"nested": [1, 2]}},
    "empty": {},
}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_a_record_reads_back_as_written(tmp_path: Path, name: str) -> None:
    doc = DOCUMENTS[name]
    path = tmp_path / "provenance.json"
    provenance.write(path, doc)
    record = Provenance.read(path)
    assert record is not None and record.to_dict() == doc
    assert record.to_json().encode() == path.read_bytes() == provenance.render(doc)
    assert provenance.read(path) == doc  # the dictionary form says the same


def test_fields_are_typed_and_none_fields_are_left_out() -> None:
    record = Provenance(path="downloads/a.zip", size=3, sha256=SHA.upper(), pinned=True)
    assert record.to_dict() == {
        "path": "downloads/a.zip",
        "pinned": True,
        "sha256": SHA.upper(),
        "size": 3,
    }
    assert record.pin == SHA  # compared in lower case
    assert Provenance(nulls=frozenset(FIELDS)).to_dict() == dict.fromkeys(sorted(FIELDS))


@pytest.mark.parametrize(
    "doc",
    [{"size": True}, {"size": 1.5}, {"sha256": "z" * 64}, {"pinned": 1}, [], 3, "text"],
    ids=["size-bool", "size-float", "sha-not-hex", "pinned-int", "list", "number", "string"],
)
def test_a_document_of_the_wrong_types_is_no_record(doc: object) -> None:
    assert Provenance.from_dict(doc) is None
    assert Provenance.parse(json.dumps(doc)) is None


def test_read_of_what_is_not_a_record_file_is_none(tmp_path: Path) -> None:
    assert Provenance.read(tmp_path) is None
    assert Provenance.read(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_bytes(b"\xff{")
    assert Provenance.read(tmp_path / "bad.json") is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_read_of_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "provenance.json"
    os.mkfifo(fifo)
    assert Provenance.read(fifo) is None


@pytest.mark.parametrize(
    ("recorded", "on_disk", "kept"),
    [
        ("downloads/a.zip", "downloads/a.zip", True),  # relative: resolved against the root
        ("downloads/a.zip", None, False),  # gone
        ("downloads/b.zip", "downloads/b.zip/", False),  # a directory
        (None, None, False),  # no path recorded
    ],
    ids=["relative", "gone", "directory", "no-path"],
)
def test_kept_archive(
    tmp_path: Path, recorded: str | None, on_disk: str | None, kept: bool
) -> None:
    if on_disk is not None and on_disk.endswith("/"):
        (tmp_path / on_disk).mkdir(parents=True)
    elif on_disk is not None:
        (tmp_path / on_disk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / on_disk).write_bytes(b"abc")
    record = Provenance(path=recorded)
    want = tmp_path / recorded if kept and recorded else None
    assert record.kept_archive(tmp_path) == want
    assert provenance.kept_archive(record.to_dict(), tmp_path) == want  # the dictionary form


def test_kept_archive_of_another_size_is_not_kept(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"abc")
    assert Provenance(path=str(archive), size=3).kept_archive(tmp_path) == archive
    assert Provenance(path=str(archive), size=4).kept_archive(tmp_path) is None
    assert Provenance(path=str(archive), size=4).archive_path(tmp_path) == archive
