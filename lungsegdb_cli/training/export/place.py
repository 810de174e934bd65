"""Putting an export's files in place: link, copy or rewrite each one, on both cores.

A :class:`Job` names one file of the export (``rel``), the tree file it comes from and what
to do with it: ``link`` (hard link by default; copied across file systems), ``binary`` (a
mask, rewritten as ``(H, W)`` 0/1 ``uint8`` by :mod:`lungsegdb_cli.tiff.foreground`'s rule
unless it already is one, then linked), ``gray`` (an image, made single-channel when it is
stored as RGB with equal channels, else linked) or ``probe`` (nothing placed: its shape and
mask convention are read for the CSV).

Before a file is placed its header is read (:func:`read_header`, no pixel decoded; a
``binary`` or rewritten ``gray`` file is decoded anyway): a file of several pages, or whose
first page's pixel data reaches past the end of the file (truncated, header intact), is not
placed; after every job ran, a pair whose mask's ``H x W`` is not its image's fails too
(:func:`shape_mismatches`). Corrupt compressed pixel data of a linked image is not seen: that
would take decoding every image, which ``lungsegdb validate`` does. Jobs that decode run
in a process pool (:mod:`lungsegdb_cli.checks.decodepass`'s fork pool, one process per CPU); the
others are plain system calls in this process. Workers return errors as :class:`Failed`
records (exceptions with context do not cross process boundaries well); :func:`place_all`
raises them: the local machine refusing (disk full, file too large, permission denied) as
exit 5, a file that cannot be decoded as exit 1.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lungsegdb_cli.errors import CheckFailed, from_os_error
from lungsegdb_cli.utils.progress import Progress

LINKS: tuple[str, ...] = ("hardlink", "symlink", "copy")
#: errno values of ``link(2)`` that mean "not here": copy instead (and say so).
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
#: Decoding jobs per pool task.
_CHUNK = 16
#: Chunks in flight per worker.
_INFLIGHT = 8
#: errno values that mean the local machine refused (exit 5), not that the data is bad.
LOCAL_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
    }
)


@dataclass(frozen=True)
class Job:
    """One file of the export: where it goes, where it comes from, what to do."""

    rel: str
    source: str
    kind: str  # "image" | "mask"
    mode: str  # "link" | "binary" | "gray" | "probe"
    key: str  # the pair's variant/version/stem


@dataclass(frozen=True)
class Placed:
    """What became of a :class:`Job`: how it was placed and the identity to check later."""

    rel: str
    source: str
    key: str
    kind: str
    how: str  # hardlink | symlink | copy | copy-fallback | written | probed
    size: int
    ino: int
    mtime_ns: int
    source_size: int
    source_mtime_ns: int
    shape: str = ""
    convention: str = ""
    #: the source's first page as ``HxW`` (placed files): a pair's two must be equal
    hw: str = ""


@dataclass(frozen=True)
class Failed:
    """A job that failed: the message (``source: reason``), and for a system call that
    failed, its ``errno`` and the path it named."""

    text: str
    errno: int | None = None
    path: str | None = None


def link_file(source: str, dest: str, link: str) -> str:
    """Place ``source`` at ``dest`` by ``link``; returns how (``copy-fallback`` when a hard
    link was refused, e.g. across file systems: EXDEV)."""
    if link == "hardlink":
        try:
            os.link(source, dest)
            return "hardlink"
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
        shutil.copyfile(source, dest)
        return "copy-fallback"
    if link == "symlink":
        os.symlink(os.path.abspath(source), dest)
        return "symlink"
    shutil.copyfile(source, dest)
    return "copy"


class NotPlaceable(ValueError):
    """A file that its header shows cannot be placed as it is (truncated, several pages)."""


@dataclass(frozen=True)
class Header:
    """What a TIFF's header and IFDs say, no pixel read: the first page's decoded shape
    (samples last), the number of pages and the dtype it decodes to (``int16``, ``uint8``,
    ...; empty where the header does not say)."""

    shape: tuple[int, ...]
    pages: int
    dtype: str = ""

    @property
    def hw(self) -> str:
        return f"{self.shape[0]}x{self.shape[1]}"


def read_header(source: str | bytes, size: int, limit: int) -> Header:
    """The :class:`Header` of the TIFF at ``source`` (a path, or the file's bytes; ``size``
    its length): the plain-TIFF fast path (one page, every strip inside the file), else
    tifffile's IFDs. Raises :class:`NotPlaceable` when the first page's pixel data (strip or
    tile offsets + byte counts) reaches past the end of the file: a truncated file, whose
    header is intact. Over the decode limit: TooLarge. Nothing is decompressed, so a file
    whose compressed data is corrupt passes: ``lungsegdb validate`` decodes every pixel."""
    import io

    from lungsegdb_cli.tiff.raw import plain_layout

    plain = plain_layout(source, size, limit)
    if plain is not None:
        return Header(plain[0], 1, plain[1])
    import tifffile

    from lungsegdb_cli.tiff.decode import check_pages, quiet_tifffile

    quiet_tifffile()
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    with tifffile.TiffFile(handle) as tif:
        pages = check_pages(tif, limit)
        if pages == 0:
            raise NotPlaceable("no image in the file")
        page = tif.pages.first
        ends = [
            int(o) + int(c)
            for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)
            if c
        ]
        end = max(ends, default=0)
        if end > size:
            raise NotPlaceable(
                f"truncated: its pixel data ends at byte {end:,}, the file has {size:,} bytes"
            )
        spp = max(1, int(page.samplesperpixel or 1))
        hw = (int(page.imagelength), int(page.imagewidth))
        dtype = page.dtype.name if page.dtype is not None else ""
        return Header(hw + ((spp,) if spp > 1 else ()), pages, dtype)


def _one_page(header: Header) -> Header:
    """``header`` if its file has one page, else NotPlaceable: a linked file reaches the
    framework's reader as it is, and a reader that loads every page gets a stack."""
    if header.pages > 1:
        raise NotPlaceable(
            f"{header.pages} pages: a file is placed as stored, and a framework's reader "
            "would load them all (one page per slice is expected)"
        )
    return header


def _read(path: str, limit: int, size: int | None = None) -> Any:
    """The decoded first page of the TIFF at ``path`` (see :func:`_read_page`)."""
    return _read_page(path, limit, size)[0]


def _read_page(path: str, limit: int, size: int | None = None) -> tuple[Any, int]:
    """The decoded first page of the TIFF at ``path`` (samples last, native byte order) and
    the number of pages, under the limit: the plain-TIFF fast path (one ``readinto``), else
    tifffile (imported only then: a worker that meets plain files only never loads it).
    ``size``: the file's, if known."""
    from lungsegdb_cli.tiff.raw import read_plain

    plain = read_plain(path, os.stat(path).st_size if size is None else size, limit)
    if plain is not None:
        arr, pages = plain[0], 1
    else:
        import tifffile

        from lungsegdb_cli.tiff.decode import check_pages, page_array, quiet_tifffile

        quiet_tifffile()
        with tifffile.TiffFile(path) as tif:
            pages = check_pages(tif, limit)
            arr = page_array(tif.pages.first)
    return (arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))), pages


def _shape_of(path: str, limit: int, size: int | None = None) -> tuple[int, ...]:
    """The first page's shape from the header (the plain-TIFF fast path, else tifffile)."""
    return read_header(path, os.stat(path).st_size if size is None else size, limit).shape


def convention(mask: Any) -> str:
    """A mask's stored values as text, its alpha channel left out as the foreground rule
    does (:func:`~lungsegdb_cli.tiff.foreground.colour`): ``0/255``, ``0/1``, ``0/v`` (a
    mask of 0 and v, or of v alone: all lung), ``0`` (empty), ``non-binary``."""
    import numpy as np

    from lungsegdb_cli.tiff.foreground import colour

    mask = colour(mask)
    if mask.dtype == np.uint8:
        counts = np.bincount(mask.ravel(), minlength=256)
        values = np.flatnonzero(counts).tolist()
    else:
        values = np.unique(mask).tolist()
    values.sort(key=lambda v: (v != 0, v))  # 0 first: 0/255, 0/-1
    if len(values) > 2 or (len(values) == 2 and values[0] != 0) or any(v != v for v in values):
        return "non-binary"  # NaN (v != v) is no mask value
    if len(values) == 1 and values[0] != 0:
        values = [0, values[0]]  # all lung: the convention it fits, as validate names it
    return "/".join(f"{v:g}" for v in values)


def to_binary(mask: Any) -> Any | None:
    """``mask`` as ``(H, W)`` 0/1 ``uint8`` by the one foreground rule
    (:mod:`lungsegdb_cli.tiff.foreground`: alpha dropped, any channel non-zero -> 1), or None
    when it already is exactly that (link it)."""
    import numpy as np

    from lungsegdb_cli.tiff.foreground import binary

    if mask.dtype == np.uint8 and mask.ndim == 2 and int(mask.max(initial=0)) <= 1:
        return None
    return binary(mask)


def to_gray(image: Any) -> Any | None:
    """A single-channel version of an RGB(A) ``image``: its first channel when R, G and B are
    equal (lossless), else the ITU-R 601 luma in the same dtype. None for a 2D image."""
    import numpy as np

    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        return None
    rgb = image[..., :3]
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return np.ascontiguousarray(rgb[..., 0])
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        luma = np.clip(np.rint(luma), info.min, info.max)
    return luma.astype(image.dtype)


def _write_tiff(dest: str, data: Any, *, compress: bool) -> None:
    from lungsegdb_cli.tiff.write import write_gray

    write_gray(dest, data, compress=compress)


def _run(job: Job, root: str, link: str, limit: int, size: int) -> tuple[str, str, str, str]:
    """Do ``job`` (its source has ``size`` bytes); returns ``(how, shape, convention, hw)``:
    ``hw`` the source's ``HxW`` (from its header, or its decoded mask), for the pair check."""
    dest = os.path.join(root, job.rel)
    if job.mode == "probe":
        shape = "x".join(map(str, _shape_of(job.source, limit, size)))
        conv = convention(_read(job.source, limit, size)) if job.kind == "mask" else ""
        return "probed", shape, conv, ""
    if job.mode in ("link", "gray"):
        # the header only (no pixel read): one page, every byte of its pixel data present
        header = _one_page(read_header(job.source, size, limit))
        if job.mode == "link" or len(header.shape) == 2:  # gray already: linked
            return link_file(job.source, dest, link), "", "", header.hw
    arr, pages = _read_page(job.source, limit, size)
    _one_page(Header(tuple(arr.shape), pages))
    hw = f"{arr.shape[0]}x{arr.shape[1]}"
    new = to_binary(arr) if job.mode == "binary" else to_gray(arr)
    if new is None:
        return link_file(job.source, dest, link), "", "", hw
    # masks deflate to a few KB in ~0.1 ms; CT slices barely shrink for ~2 ms: left raw
    _write_tiff(dest, new, compress=job.mode == "binary")
    return "written", "", "", hw


def place_one(job: Job, root: str, link: str, limit: int) -> Placed | Failed:
    """Do ``job`` and stat the result; an error as a :class:`Failed` record."""
    try:
        src = os.stat(job.source)
        how, shape, conv, hw = _run(job, root, link, limit, src.st_size)
        if how == "probed":
            st = src
        else:
            st = (
                os.lstat(os.path.join(root, job.rel))
                if how == "symlink"
                else os.stat(os.path.join(root, job.rel))
            )
    except OSError as exc:
        # a copy or link names its target second: that is where the machine refused
        where = exc.filename2 or exc.filename or os.path.join(root, job.rel)
        return Failed(
            f"{job.source}: {exc.strerror or exc} [errno {exc.errno}]", exc.errno, os.fspath(where)
        )
    except NotPlaceable as exc:
        return Failed(f"{job.source}: {exc}")
    except Exception as exc:  # decode errors of a broken file: reported, never a traceback
        return Failed(f"{job.source}: cannot decode: {type(exc).__name__}: {exc}")
    return Placed(
        rel=job.rel,
        source=job.source,
        key=job.key,
        kind=job.kind,
        how=how,
        size=st.st_size,
        ino=st.st_ino,
        mtime_ns=st.st_mtime_ns,
        source_size=src.st_size,
        source_mtime_ns=src.st_mtime_ns,
        shape=shape,
        convention=conv,
        hw=hw,
    )


def _place_chunk(jobs: list[Job], root: str, link: str, limit: int) -> list[Placed | Failed]:
    return [place_one(j, root, link, limit) for j in jobs]


class _Heavy:
    """The jobs that decode, on the worker processes: a window of chunks in flight, topped
    up as they come back, so that the main process can place the other files meanwhile."""

    def __init__(self, pool: Any, jobs: list[Job], args: tuple[str, str, int], n: int) -> None:
        self.pool, self.args = pool, args
        self.chunks = iter([jobs[i : i + _CHUNK] for i in range(0, len(jobs), _CHUNK)])
        self.window = _INFLIGHT * n
        self.inflight: deque[Any] = deque()
        self.top_up()

    def top_up(self) -> None:
        while len(self.inflight) < self.window:
            chunk = next(self.chunks, None)
            if chunk is None:
                return
            self.inflight.append(self.pool.submit(_place_chunk, chunk, *self.args))

    def ready(self) -> Iterator[list[Placed | Failed]]:
        """The results that are back (in order), more sent."""
        while self.inflight and self.inflight[0].done():
            yield self.inflight.popleft().result()
        self.top_up()

    def rest(self) -> Iterator[list[Placed | Failed]]:
        """Every result still to come, in order."""
        while self.inflight:
            yield self.inflight.popleft().result()
            self.top_up()


def _raise_errors(errors: list[Failed]) -> None:
    """The local machine refusing first (exit 5: it is not the data's fault), else every file
    that could not be exported (exit 1)."""
    for f in errors:
        if f.errno is not None and f.errno in LOCAL_ERRNOS:
            raise from_os_error(OSError(f.errno, os.strerror(f.errno), f.path), "make the export")
    if errors:
        more = f" (and {len(errors) - 1:,} more)" if len(errors) > 1 else ""
        raise CheckFailed(
            f"Cannot export {errors[0].text}{more}",
            hint="See the tree's problems with 'lungsegdb validate'; nothing was exported.",
            errors=[f.text for f in errors[:20]],
        )


def place_all(
    jobs: list[Job],
    root: str,
    link: str,
    limit: int,
    progress: Progress,
    workers: int | None = None,
) -> list[Placed]:
    """Do every job (folders made first); results in job order. After all jobs ran: the
    local machine refusing a write or read (disk full...) is a LocalError (exit 5); any other
    failure a CheckFailed (exit 1) naming every bad file."""
    from lungsegdb_cli.checks import decodepass as _decodepass

    if not jobs:  # a packed format (hf, webdataset): nothing to place, nothing to report
        return []
    for folder in sorted({os.path.dirname(j.rel) for j in jobs if j.mode != "probe"}):
        try:
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        except OSError as exc:
            raise from_os_error(exc, f"create {folder} in {root}") from exc
    n = _decodepass.default_workers(progress) if workers is None else max(1, workers)
    heavy = [j for j in jobs if j.mode != "link"]
    light = [j for j in jobs if j.mode == "link"]
    done: dict[str, Placed] = {}
    errors: list[Failed] = []
    progress.start("Exporting", len(jobs), "files")
    args = (root, link, limit)
    pool = _decodepass._pool(n) if n > 1 and len(heavy) > _CHUNK else None
    try:
        # the decoding jobs go to the workers first; the links are made here meanwhile
        work = None if pool is None else _Heavy(pool, heavy, args, n)
        for i, job in enumerate(light):
            _collect([place_one(job, *args)], done, errors, progress)
            if work is not None and i % _CHUNK == 0:
                for results in work.ready():
                    _collect(results, done, errors, progress)
        if work is None:
            for i in range(0, len(heavy), _CHUNK):
                _collect(_place_chunk(heavy[i : i + _CHUNK], *args), done, errors, progress)
        else:
            for results in work.rest():
                _collect(results, done, errors, progress)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    progress.done()
    errors += shape_mismatches(done.values())
    _raise_errors(errors)
    return [done[j.rel] for j in jobs]


def shape_mismatches(placed: Any) -> list[Failed]:
    """A :class:`Failed` per pair whose mask's ``HxW`` is not its image's (both known):
    a framework would pair a label with an image it does not fit."""
    images: dict[str, Placed] = {}
    masks: dict[str, Placed] = {}
    for p in placed:
        if p.hw:
            (images if p.kind == "image" else masks)[p.key] = p
    out = []
    for key, m in masks.items():
        i = images.get(key)
        if i is not None and i.hw != m.hw:
            out.append(
                Failed(
                    f"{m.source}: shape-mismatch: mask {m.hw}, image {i.hw} "
                    f"({os.path.basename(i.source)})"
                )
            )
    return out


def _collect(
    results: list[Placed | Failed],
    done: dict[str, Placed],
    errors: list[Failed],
    progress: Progress,
) -> None:
    for r in results:
        if isinstance(r, Failed):
            errors.append(r)
        else:
            done[r.rel] = r
    progress.advance(len(results))
