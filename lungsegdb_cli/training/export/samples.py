"""The samples of a packed export (``hf``, ``webdataset``): each pair's bytes, read once.

A packed format writes every pair into shard files instead of placing one file per image.
:func:`read_samples` gives the pairs, in the order asked, as :class:`Sample` records:

* ``image``: the image file's bytes exactly as stored (read once, never decoded: what
  :func:`~lungsegdb_cli.training.pairs.load_pair` decodes, it decodes from these bytes too);
  only its header is read, so that a file that is not a TIFF, declares more pixels than the
  decode limit (``LUNGSEGDB_MAX_IMAGE_PIXELS``, which ``load_pair`` enforces), is truncated
  (its first page's pixel data reaches past the end of the file), or whose ``H x W`` is not
  its mask's, fails the export instead of going into a shard;
* ``mask``: a TIFF of the mask as 0/1 ``uint8`` -- the stored file's bytes when it already is
  one, else the first page rewritten as ``(H, W)`` 0/1 (the foreground rule of
  :mod:`lungsegdb_cli.tiff.foreground`: alpha dropped, any channel non-zero -> 1, so it decodes
  to exactly what ``load_pair`` returns) as one Deflate strip. Masks are decoded from the
  bytes read (never read twice), in the decode processes of
  :mod:`lungsegdb_cli.checks.decodepass` (one per CPU), a few chunks ahead of the writer:
  memory stays flat whatever the size of the tree.

Every file read is recorded as a ``probed`` :class:`~lungsegdb_cli.training.export.place.Placed`
(its size and mtime when read) for ``verify-export``; files that cannot be read or decoded are
collected and raised once every pair was tried, as :func:`place_all` does (exit 5 when the
machine refused, else exit 1 naming them). The shard files themselves are written through a
:class:`HashingSink`: their SHA-256 comes from the bytes as they are written.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.errors import from_os_error
from lungsegdb_cli.tiff import foreground
from lungsegdb_cli.training.export.place import (
    Failed,
    Header,
    NotPlaceable,
    Placed,
    _raise_errors,
    read_header,
)
from lungsegdb_cli.training.pairs import Pair
from lungsegdb_cli.utils.progress import Progress

#: Masks per task sent to a decode process.
CHUNK = 16
#: Chunks in flight per worker.
INFLIGHT_PER_WORKER = 4
#: Below this many pairs a pool costs more than it saves.
MIN_POOL_PAIRS = 2 * CHUNK


@dataclass(frozen=True)
class Shard:
    """One shard file of a packed export: where (relative to OUT), its size and SHA-256 (of
    the bytes as written), and how many samples it holds."""

    path: str
    size: int
    sha256: str
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "samples": self.samples,
        }


@dataclass
class Packed:
    """What a packed format made: its shards, the tree files it read (``probed`` records),
    its small text files (the card, the index) and per dataset folder what it holds."""

    shards: list[Shard] = field(default_factory=list)
    sources: list[Placed] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One pair as a packed export stores it (see the module docstring)."""

    pair: Pair
    image: bytes
    mask: bytes
    #: the image's first page as its header declares it: decoded shape (samples last) and
    #: dtype name (what the hf card tells per config x version)
    shape: tuple[int, ...] = ()
    dtype: str = ""

    @property
    def nbytes(self) -> int:
        return len(self.image) + len(self.mask)


class HashingSink(io.RawIOBase):
    """A new file (``O_EXCL``) written sequentially, its SHA-256 and size computed from the
    bytes as they go by: what pyarrow's Parquet writer and :mod:`tarfile` write shards into."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644
        )
        self._sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._sha.update(view)
        n = len(view)
        while view:
            view = view[os.write(self._fd, view) :]
        self.size += n
        return n

    def writev(self, parts: list[bytes]) -> int:
        """Write ``parts`` one after the other, in as few ``writev`` calls as the OS allows."""
        for part in parts:
            self._sha.update(part)
        views = [memoryview(p).cast("B") for p in parts if len(p)]
        total = sum(len(v) for v in views)
        while views:
            n = os.writev(self._fd, views)
            while views and n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            if views and n:
                views[0] = views[0][n:]
        self.size += total
        return total

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()

    def shard(self, rel: str, samples: int) -> Shard:
        """The closed file as a :class:`Shard` named ``rel``."""
        return Shard(rel, self.size, self._sha.hexdigest(), samples)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def _read_file(path: str) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file at ``path`` and its ``fstat``, from one open."""
    from lungsegdb_cli.utils.hashing import open_regular

    fd, size = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(size + 1)
        return data, os.fstat(fh.fileno())


def _decode_bytes(data: bytes, limit: int) -> tuple[Any, int]:
    """The first page of the TIFF in ``data`` (native byte order) and the number of pages,
    under the decode limit: the plain-TIFF fast path, else tifffile -- both read ``data``,
    not the file again."""
    import tifffile

    from lungsegdb_cli.tiff.decode import check_pages, page_array, quiet_tifffile
    from lungsegdb_cli.tiff.raw import read_plain

    plain = read_plain(data, len(data), limit)
    if plain is not None:
        arr, pages = plain[0], 1
    else:
        quiet_tifffile()
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = check_pages(tif, limit)
            arr = page_array(tif.pages.first)  # samples last, as load_pair gives it
    return (arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))), pages


def mask_tiff(data: bytes, limit: int) -> bytes:
    """The TIFF a packed export stores for the mask file ``data``: ``data`` itself when it
    has one page and that is ``(H, W)`` 0/1 ``uint8`` already, else a new one-page TIFF of
    the first page as ``(H, W)`` 0/1 ``uint8`` (:mod:`lungsegdb_cli.tiff.foreground`): what
    :func:`~lungsegdb_cli.training.pairs.load_pair` returns for the mask.

    Examples
    --------
    >>> import io, numpy as np, tifffile
    >>> buf = io.BytesIO(); tifffile.imwrite(buf, np.array([[0, 255], [255, 0]], np.uint8))
    >>> tifffile.imread(io.BytesIO(mask_tiff(buf.getvalue(), 1 << 20))).tolist()
    [[0, 1], [1, 0]]
    """
    return _mask_tiff(data, limit)[0]


def _mask_tiff(data: bytes, limit: int) -> tuple[bytes, str]:
    """:func:`mask_tiff`, and the mask's first page as ``HxW`` (for the pair check)."""
    import numpy as np

    from lungsegdb_cli.tiff.write import tiff_bytes

    arr, pages = _decode_bytes(data, limit)
    hw = f"{arr.shape[0]}x{arr.shape[1]}"
    if arr.dtype == np.uint8 and arr.ndim == 2 and pages == 1 and int(arr.max(initial=0)) <= 1:
        return data, hw
    binary = foreground.binary(arr)  # the one rule: alpha dropped, any channel != 0
    out = tiff_bytes(binary, compress=True)
    if out is not None:
        return out, hw
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, binary, compression="zlib")
    return buf.getvalue(), hw


def check_header(data: bytes, limit: int) -> None:
    """Raise unless ``data`` is a TIFF whose pages, by their tags, fit the decode limit and
    whose first page's pixel data is all in ``data``: the header and IFDs are parsed (the fast
    path's, else tifffile's), no pixel is decoded (:func:`~.place.read_header`)."""
    read_header(data, len(data), limit)


#: What a decode process sends back per mask: the TIFF bytes, the file's size, mtime, inode,
#: and the mask's ``HxW``.
_MaskOut = tuple[bytes, int, int, int, str]


def _mask_one(path: str, limit: int) -> _MaskOut | Failed:
    try:
        data, st = _read_file(path)
        tiff, hw = _mask_tiff(data, limit)
        return tiff, st.st_size, st.st_mtime_ns, st.st_ino, hw
    except OSError as exc:
        return Failed(
            f"{path}: {exc.strerror or exc} [errno {exc.errno}]",
            exc.errno,
            os.fspath(exc.filename or path),
        )
    except Exception as exc:  # decode errors of a broken file: reported, never a traceback
        return Failed(f"{path}: cannot decode: {type(exc).__name__}: {exc}")


def _mask_chunk(paths: list[str], limit: int) -> list[_MaskOut | Failed]:
    return [_mask_one(p, limit) for p in paths]


def _probed(pair: Pair, kind: str, source: str, size: int, mtime_ns: int, ino: int) -> Placed:
    return Placed(
        rel=f"{pair.key}#{kind}",
        source=source,
        key=pair.key,
        kind=kind,
        how="probed",
        size=size,
        ino=ino,
        mtime_ns=mtime_ns,
        source_size=size,
        source_mtime_ns=mtime_ns,
    )


class _Reader:
    """One pass over the pairs: masks in the pool (a bounded window ahead), images here."""

    def __init__(self, pairs: list[Pair], limit: int, progress: Progress, workers: int) -> None:
        self.pairs = pairs
        self.limit = limit
        self.progress = progress
        self.workers = workers
        self.pool: Any = None
        self.sources: list[Placed] = []
        self.errors: list[Failed] = []

    def _masks(self) -> Iterator[_MaskOut | Failed]:
        paths = [str(p.mask) for p in self.pairs]
        chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
        if self.workers <= 1 or len(paths) < MIN_POOL_PAIRS:
            for chunk in chunks:
                yield from _mask_chunk(chunk, self.limit)
            return
        from lungsegdb_cli.checks import decodepass

        self.pool = decodepass._pool(self.workers)
        window: deque[Any] = deque()
        for chunk in chunks:
            window.append(self.pool.submit(_mask_chunk, chunk, self.limit))
            if len(window) >= INFLIGHT_PER_WORKER * self.workers:
                yield from window.popleft().result()
        while window:
            yield from window.popleft().result()

    def _image(self, pair: Pair) -> tuple[bytes, Header] | None:
        try:
            data, st = _read_file(str(pair.image))
        except OSError as exc:
            self.errors.append(
                Failed(
                    f"{pair.image}: {exc.strerror or exc} [errno {exc.errno}]",
                    exc.errno,
                    os.fspath(exc.filename or pair.image),
                )
            )
            return None
        try:
            # the header only: a TIFF under the limit whose first page's pixel data is all there
            header = read_header(data, len(data), self.limit)
        except NotPlaceable as exc:  # truncated
            self.errors.append(Failed(f"{pair.image}: {exc}"))
            return None
        except Exception as exc:  # not a TIFF, or over the limit: reported, never a traceback
            self.errors.append(Failed(f"{pair.image}: cannot decode: {type(exc).__name__}: {exc}"))
            return None
        self.sources.append(
            _probed(pair, "image", str(pair.image), st.st_size, st.st_mtime_ns, st.st_ino)
        )
        return data, header

    def __iter__(self) -> Iterator[Sample]:
        self.progress.start("Packing", len(self.pairs), "pairs")
        for pair, got in zip(self.pairs, self._masks(), strict=True):
            image = self._image(pair)
            if isinstance(got, Failed):
                self.errors.append(got)
            elif image is not None:
                mask, size, mtime_ns, ino, hw = got
                if hw != image[1].hw:
                    self.errors.append(
                        Failed(
                            f"{pair.mask}: shape-mismatch: mask {hw}, image {image[1].hw} "
                            f"({pair.image.name})"
                        )
                    )
                else:
                    self.sources.append(_probed(pair, "mask", str(pair.mask), size, mtime_ns, ino))
                    yield Sample(pair, image[0], mask, image[1].shape, image[1].dtype)
            self.progress.advance(1)
        self.progress.done()
        _raise_errors(self.errors)

    def close(self, cancel: bool) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=cancel)
            self.pool = None


@contextmanager
def read_samples(
    pairs: list[Pair], *, limit: int, progress: Progress, workers: int | None = None
) -> Iterator[_Reader]:
    """The pairs as :class:`Sample` records, in order (iterate the reader); the files read
    are in ``reader.sources`` afterwards. Iteration ends by raising what could not be read
    (see the module docstring); the decode processes end with the block."""
    from lungsegdb_cli.checks import decodepass

    n = decodepass.default_workers(progress) if workers is None else max(1, workers)
    reader = _Reader(pairs, limit, progress, n)
    try:
        yield reader
    except BaseException:
        reader.close(cancel=True)
        raise
    reader.close(cancel=False)


def open_sink(path: Path) -> HashingSink:
    """A :class:`HashingSink` at ``path`` (its folder made); the machine refusing: exit 5."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return HashingSink(path)
    except OSError as exc:
        raise from_os_error(exc, f"create {path}") from exc
