"""SHA-256 + MD5 computed while bytes stream in, on two threads."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from lungsegdb_cli._hashing import NotRegularFile
from lungsegdb_cli._streamhash import StreamHasher, digest_file


@pytest.mark.parametrize("sizes", [[], [1], [3000, 1, 70_000], [1 << 20] * 3])
@pytest.mark.parametrize("threaded", [True, False])
def test_digests_equal_hashlib(sizes: list[int], threaded: bool) -> None:
    chunks = [random.Random(i).randbytes(n) for i, n in enumerate(sizes)]
    whole = b"".join(chunks)
    with StreamHasher(threaded=threaded, depth=2, md5=True) as h:
        for c in chunks:
            h.update(c)
        d = h.finish()
    assert d.sha256 == hashlib.sha256(whole).hexdigest()
    assert d.md5 == hashlib.md5(whole).hexdigest()
    assert d.size == len(whole)


def test_digest_file_and_resumed_prefix(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(2_500_000)
    f = tmp_path / "a.bin"
    f.write_bytes(data)
    seen: list[int] = []
    d = digest_file(f, on_bytes=seen.append)
    assert d.sha256 == hashlib.sha256(data).hexdigest() and sum(seen) == len(data)
    with StreamHasher() as h:  # a resumed download: the prefix from the file, then the rest
        assert h.update_from_file(f, 1_000_000) == 1_000_000
        h.update(data[1_000_000:])
        assert h.finish() == d


def test_digests_of_nothing() -> None:
    with StreamHasher(md5=True) as h:
        d = h.finish()
    assert (d.sha256, d.md5, d.size) == (
        hashlib.sha256(b"").hexdigest(),
        hashlib.md5(b"").hexdigest(),
        0,
    )


def test_close_without_finish_joins_the_threads() -> None:
    h = StreamHasher()
    h.update(b"x" * 10_000)
    h.close()
    h.close()  # idempotent
    assert all(not t.is_alive() for t in h._threads)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize("what", ["fifo", "link-to-dev-zero"])
def test_only_regular_files_are_read(tmp_path: Path, what: str) -> None:
    """A FIFO or a device in the archive's place is refused at once: no hang, no endless
    read (the call runs on a daemon thread so a regression fails instead of hanging)."""
    path = tmp_path / "LungSegDB.zip"
    if what == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    for call in (lambda: digest_file(path), lambda: StreamHasher().update_from_file(path, 10)):
        out: list[BaseException] = []

        def target(call: Any = call, out: list[BaseException] = out) -> None:
            try:
                call()
            except BaseException as exc:
                out.append(exc)

        t = threading.Thread(target=target, daemon=True)
        t.start()
        t.join(60)
        assert not t.is_alive(), "still reading: it would hang forever"
        assert len(out) == 1 and isinstance(out[0], NotRegularFile)
