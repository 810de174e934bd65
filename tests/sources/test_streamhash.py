"""SHA-256 (on the caller's thread) and MD5 (on a thread of its own), computed as bytes stream."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

# internals: exercises sources/http/streamhash, utils/hashing, ... directly (not public API)
from lungsegdb_cli.sources.http.streamhash import StreamHasher, digest_file
from lungsegdb_cli.utils.hashing import NotRegularFile


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


def test_close_without_finish_joins_the_md5_thread() -> None:
    h = StreamHasher(md5=True)
    assert h._thread is not None and h._thread.is_alive()
    h.update(b"x" * 10_000)
    h.close()
    h.close()  # idempotent
    assert not h._thread.is_alive()


@pytest.mark.parametrize(
    ("md5", "threaded", "threads"), [(False, True, 0), (True, True, 1), (True, False, 0)]
)
def test_only_md5_gets_a_thread(md5: bool, threaded: bool, threads: int) -> None:
    """SHA-256 runs on the caller's thread (a hash thread saved nothing on 2 cores:
    docs/performance.md); MD5, when asked for, on one of its own unless ``threaded=False``."""
    before = set(threading.enumerate())
    with StreamHasher(md5=md5, threaded=threaded) as h:
        mine = [t for t in threading.enumerate() if t not in before]
        assert len(mine) == threads
        buf = h.buffer()
        buf[:3] = b"abc"
        h.submit(buf, 3)
        d = h.finish()
    assert d.sha256 == hashlib.sha256(b"abc").hexdigest()
    assert d.md5 == (hashlib.md5(b"abc").hexdigest() if md5 else None)


def test_pooled_buffers_are_reused_and_bounded() -> None:
    """Memory stays flat: at most ``buffers`` blocks exist, however many are hashed."""
    data = random.Random(3).randbytes(50_000)
    with StreamHasher(md5=True, block_size=1000, buffers=2) as h:
        seen: set[int] = set()
        for i in range(0, len(data), 1000):
            buf = h.buffer()
            seen.add(id(buf))
            n = len(data[i : i + 1000])
            buf[:n] = data[i : i + 1000]
            h.submit(buf, n)
        d = h.finish()
    assert len(seen) <= 2
    want = (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data))
    assert (d.sha256, d.md5, d.size) == want


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
