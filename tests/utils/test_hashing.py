"""Streaming and parallel SHA-256: same digests as hashlib, largest first, errors per file."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.fakes import finishes

# internals: exercises utils directly: behaviour the public API does not expose on its own
from lungsegdb_cli.utils import hashing

MIB = 1 << 20


def _file(tmp_path: Path, name: str, size: int, seed: int = 0) -> Path:
    p = tmp_path / name
    # deterministic, not all zeros: a digest bug in buffer slicing would show
    block = hashlib.sha256(f"{name}-{seed}".encode()).digest() * 4096  # 128 KiB
    data = (block * (size // len(block) + 1))[:size]
    p.write_bytes(data)
    return p


def _ref(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 5])
@pytest.mark.parametrize("bufsize", [4096, hashing.DEFAULT_BUFSIZE])
def test_hash_file_matches_hashlib(tmp_path: Path, size: int, bufsize: int) -> None:
    p = _file(tmp_path, "f.bin", size)
    seen: list[int] = []
    digest, n = hashing.hash_file(p, buf=bytearray(bufsize), on_bytes=seen.append)
    assert (digest, n) == (_ref(p), size)
    assert sum(seen) == size
    assert all(0 < c <= bufsize for c in seen)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_hash_many_same_digests_as_hashlib(tmp_path: Path, workers: int) -> None:
    sizes = [0, 1, MIB + 1, 5000, 2 * MIB, 77, 0, 300_000]
    files = [_file(tmp_path, f"f{i}.bin", s, seed=i) for i, s in enumerate(sizes)]
    jobs = [hashing.Job(p.name, p, p.stat().st_size) for p in files]
    total: list[int] = []
    lock = threading.Lock()

    def count(n: int) -> None:
        with lock:
            total.append(n)

    got = {
        h.key: (h.digest, h.size, h.error)
        for h in hashing.hash_many(jobs, workers=workers, on_bytes=count)
    }
    assert got == {p.name: (_ref(p), p.stat().st_size, None) for p in files}
    assert sum(total) == sum(sizes)


def test_hash_many_starts_largest_first(tmp_path: Path) -> None:
    sizes = [10, 5000, 1, 70_000, 300]
    jobs = [hashing.Job(s, _file(tmp_path, f"{s}.bin", s), s) for s in sizes]
    order = [h.key for h in hashing.hash_many(jobs, workers=1)]
    assert order == sorted(sizes, reverse=True)


def test_hash_many_reports_errors_per_file(tmp_path: Path) -> None:
    good = _file(tmp_path, "good.bin", 1234)
    jobs = [hashing.Job("gone", tmp_path / "gone.bin", 10), hashing.Job("good", good, 1234)]
    out = {h.key: h for h in hashing.hash_many(jobs, workers=2)}
    assert isinstance(out["gone"].error, FileNotFoundError)
    assert out["gone"].digest is None
    assert out["good"].digest == _ref(good) and out["good"].error is None


def test_hash_many_empty_and_early_close_joins_threads(tmp_path: Path) -> None:
    assert list(hashing.hash_many([])) == []
    before = {t.name for t in threading.enumerate()}
    jobs = [hashing.Job(i, _file(tmp_path, f"{i}.bin", 200_000, i), 200_000) for i in range(20)]
    it = hashing.hash_many(jobs, workers=2, bufsize=4096)
    first = next(it)
    it.close()
    assert first.digest is not None
    leftover = {t.name for t in threading.enumerate()} - before
    assert not any(n.startswith("lungsegdb-hash") for n in leftover)


def test_worker_crash_is_raised_in_consumer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> tuple[str, int]:
        raise RuntimeError("bug in a worker")

    monkeypatch.setattr(hashing, "hash_file", boom)
    jobs = [hashing.Job(1, _file(tmp_path, "a.bin", 10), 10)]
    with pytest.raises(RuntimeError, match="bug in a worker"):
        list(hashing.hash_many(jobs, workers=1))


def test_default_workers_is_positive() -> None:
    assert 1 <= hashing.default_workers() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("hint_delta", [-1, 0, 1, None])
def test_size_hint_never_truncates(tmp_path: Path, hint_delta: int | None) -> None:
    """A stale hint (the file grew or shrank since stat) still hashes the whole file."""
    p = _file(tmp_path, "f.bin", 5000)
    hint = -1 if hint_delta is None else 5000 + hint_delta
    for bufsize in (4096, 8192, 5000):
        assert hashing.hash_file(p, buf=bytearray(bufsize), size_hint=hint) == (_ref(p), 5000)


def test_hash_many_runs_while_the_caller_works(tmp_path: Path) -> None:
    """Threads start when the run is created; leaving the with block joins them."""
    files = [_file(tmp_path, f"{i}.bin", 100_000, i) for i in range(130)]  # > one batch
    seen: list[int] = []
    with hashing.hash_many(
        [hashing.Job(p.name, p, 100_000) for p in files], workers=2, on_bytes=seen.append
    ) as run:
        deadline = time.monotonic() + 10
        while sum(seen) == 0 and time.monotonic() < deadline:
            time.sleep(0.001)  # no next() yet: the workers hash on their own
        assert sum(seen) > 0
        got = {h.key: h.digest for h in run}
    assert got == {p.name: _ref(p) for p in files}
    assert not [t for t in threading.enumerate() if t.name.startswith("lungsegdb-hash")]


# ---------------------------------------------------------------------------------------------
# Only regular files are read: a FIFO or /dev/zero never hangs a check
# ---------------------------------------------------------------------------------------------
def _fifo(tmp_path: Path) -> Path:
    p = tmp_path / "fifo.TIF"
    os.mkfifo(p)
    return p


def _zero_link(tmp_path: Path) -> Path:
    p = tmp_path / "zero.TIF"
    p.symlink_to("/dev/zero")
    return p


NOT_REGULAR = [(_fifo, "FIFO"), (_zero_link, "device")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize(("make", "kind"), NOT_REGULAR, ids=["fifo", "link-to-dev-zero"])
def test_hash_file_refuses_what_is_not_a_regular_file(tmp_path: Path, make: Any, kind: str) -> None:
    path = make(tmp_path)
    with pytest.raises(hashing.NotRegularFile) as exc:
        finishes(lambda: hashing.hash_file(path))
    assert exc.value.kind == kind and str(path) in str(exc.value)
    # and in a pool: a per-file error, the other files hashed
    good = _file(tmp_path, "good.bin", 1000)
    jobs = [hashing.Job("bad", path, 10), hashing.Job("good", good, 1000)]
    done = finishes(lambda: {h.key: h for h in hashing.hash_many(jobs, workers=2)})
    assert isinstance(done["bad"].error, hashing.NotRegularFile)
    assert done["good"].digest == _ref(good)


def test_hash_file_no_follow_and_folders(tmp_path: Path) -> None:
    real = _file(tmp_path, "real.bin", 5000)
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    assert hashing.hash_file(link) == (_ref(real), 5000)  # followed by default
    with pytest.raises(hashing.SymlinkFound):
        hashing.hash_file(link, follow_symlinks=False)
    assert hashing.hash_file(real, follow_symlinks=False) == (_ref(real), 5000)
    with pytest.raises(IsADirectoryError):
        hashing.hash_file(tmp_path)
