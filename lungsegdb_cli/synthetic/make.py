"""``lungsegdb synth``: a synthetic, LungSegDB-shaped tree and archive for tests and offline CI.

What it writes into ``OUT`` (see ``docs/synth.md``)::

    OUT/LungSegDB/<variant>/<version>/CT_Images/<n>.TIF     (the documented tree)
    OUT/LungSegDB/<variant>/<version>/CT_Masks/<n>.TIF
    OUT/LungSegDB.zip | OUT/LungSegDB.tar.gz                   (unless --format none)
    OUT/defects.json                                           (with --defects)
    OUT/synth.json                                             (the result; marks OUT as synth's)

Each slice is a small phantom: a body ellipse with fat, ribs, spine, heart and table, two
lung-shaped regions that are dark (with vessels), smooth texture and noise, so that files
compress about as real CT does. The mask is the lung region, ``uint8`` 0/255.

V1 slices are 512x512; ``raw data`` holds int16 HU-like values (-1024 .. ~1500),
``preprocessed data`` the same slice windowed to uint8 grey. V2 slices have a size drawn per
pair (H 300-520, W 400-620) and are RGB uint8 in both variants. ``preprocessed data`` and
``raw data`` of the same version and index show the same slice, as in the real dataset.
With ``like_kaggle`` every group is written the way real CT slices arrive instead: ``raw
data`` 512x512 signed int16 HU with the corners outside the round scan field padded far below
air (-2600 or -1800), ``preprocessed data`` its windowed uint8 copy
(:func:`~lungsegdb_cli.synthetic.phantom.render_like_kaggle`).

Determinism: every pair draws from its own RNG, seeded from ``(seed, version, index)``; TIFFs
carry no date; archives have a fixed timestamp, fixed owners and modes, and members in sorted
(natural) order; the gzip header has no name and no mtime. Same seed and same versions of
numpy, tifffile and zlib: byte-identical tree and archive, whatever the number of workers.

This module checks the arguments, runs the workers and commits the result; the pixels are
``_synth_phantom``'s, the defects ``_synth_defects``'s table, the archive ``_synth_archive``'s.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.tree import scan
from lungsegdb_cli.errors import LocalError, LungSegDBError, UsageError, from_os_error
from lungsegdb_cli.synthetic import phantom as _synth_phantom
from lungsegdb_cli.synthetic.archive import (
    ARCHIVE_DATE_TIME,
    ARCHIVE_EPOCH,
    COMPRESSLEVEL,
    archive_entries,
    natural_key,
    write_archive,
    write_tar_gz,
    write_zip,
)
from lungsegdb_cli.synthetic.defects import JUNK_CODE, Defect, Planted, plant_defects
from lungsegdb_cli.synthetic.phantom import (
    HU_MAX,
    HU_MIN,
    TIFF_SOFTWARE,
    V1_SHAPE,
    V2_HEIGHT,
    V2_WIDTH,
    make_chunk,
    pair_rng,
    phantom,
    render_pair,
    tiff_bytes,
    window,
)
from lungsegdb_cli.utils.fsutil import atomic_write_text, check_free_space
from lungsegdb_cli.utils.hashing import hash_file
from lungsegdb_cli.utils.procpool import process_pool
from lungsegdb_cli.utils.progress import Progress, ensure
from lungsegdb_cli.utils.statejson import loads
from lungsegdb_cli.utils.workers import process_workers

#: Pairs per group when neither ``--pairs`` nor ``--scale`` is given.
DEFAULT_PAIRS = 4
#: Upper bound of ``--scale`` (10x the published counts is ~35 GB on disk).
MAX_SCALE = 10.0
MAX_PAIRS = 100_000
#: At most this many worker processes by default (``LUNGSEGDB_WORKERS`` overrides it).
MAX_WORKERS = 8
#: Up to this many pairs are rendered in this process: a pool would cost more than it saves.
INLINE_PAIRS = 32
FORMATS: tuple[str, ...] = ("zip", "tar.gz", "none")
ARCHIVE_BASENAME = dataset.DATASET_DIRNAME
RESULT_FILE = "synth.json"
DEFECTS_FILE = "defects.json"
GENERATOR = "lungsegdb synth"


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    sha256: str
    size: int
    format: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
        }


@dataclass(frozen=True)
class SynthResult:
    out: Path
    tree: Path
    archive: ArchiveInfo | None
    #: Pairs per group as ``validate`` pairs them (stem), planted defect pairs included.
    pairs: dict[str, int]
    files: int
    bytes: int
    seed: int
    wrap: str | None
    defects: list[Defect] = field(default_factory=list)
    defects_file: Path | None = None
    like_kaggle: bool = False
    #: The clean pairs per group (``--pairs``/``--scale``); :attr:`pairs` adds the pairs that
    #: carry a planted defect. None means the same as :attr:`pairs`.
    clean_pairs: dict[str, int] | None = None

    @property
    def findings(self) -> list[Defect]:
        """The planted defects ``validate`` must report (junk left out)."""
        return [d for d in self.defects if d.code != JUNK_CODE]

    @property
    def junk(self) -> list[Defect]:
        """The planted OS junk files ``validate`` must ignore."""
        return [d for d in self.defects if d.code == JUNK_CODE]

    @property
    def ok(self) -> bool:
        """True: a synth run that did not complete raises instead."""
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "generator": GENERATOR,
            "out": str(self.out),
            "tree": str(self.tree),
            "archive": self.archive.to_dict() if self.archive else None,
            "pairs": dict(self.pairs),
            "clean_pairs": dict(self.pairs if self.clean_pairs is None else self.clean_pairs),
            "files": self.files,
            "bytes": self.bytes,
            "seed": self.seed,
            "wrap": self.wrap,
            "like_kaggle": self.like_kaggle,
            "defects": [d.to_dict() for d in self.defects],
            "defects_file": str(self.defects_file) if self.defects_file else None,
        }


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------
def pair_counts(pairs: int | None, scale: float | None) -> dict[dataset.Group, int]:
    """Clean pairs per group for ``--pairs`` / ``--scale`` (mutually exclusive)."""
    if pairs is not None and scale is not None:
        raise UsageError(
            "--pairs and --scale are mutually exclusive",
            hint="Give --pairs N (pairs per group) or --scale F (fraction of published counts).",
        )
    if scale is not None:
        real = isinstance(scale, (int, float)) and not isinstance(scale, bool)
        if not real or not math.isfinite(scale) or scale <= 0 or scale > MAX_SCALE:
            raise UsageError(
                f"--scale must be a number > 0 and <= {MAX_SCALE:g}, got {scale!r}",
                hint="--scale 1.0 writes the published counts (1,800 V1 / 700 V2 pairs per group).",
            )
        return {g: max(1, round(g.published_pairs * scale)) for g in dataset.GROUPS}
    n = DEFAULT_PAIRS if pairs is None else pairs
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > MAX_PAIRS:
        raise UsageError(
            f"--pairs must be a whole number from 1 to {MAX_PAIRS:,}, got {pairs!r}",
            hint="--pairs N writes N image/mask pairs per variant x version group.",
        )
    return {g: n for g in dataset.GROUPS}


def _check_wrap(wrap: str | None) -> str | None:
    if wrap is None:
        return None
    text = wrap.strip().replace("\\", "/").strip("/")
    parts = text.split("/") if text else []
    bad = (
        not parts
        or "\x00" in text
        or wrap.strip().startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", text) is not None
        or any(p in ("", ".", "..") for p in parts)
    )
    if bad:
        raise UsageError(
            f"--wrap must be a relative folder name, got {wrap!r}",
            hint="For example --wrap MyUpload (the archive then holds MyUpload/LungSegDB/...).",
        )
    return "/".join(parts)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(
            f"--seed must be a whole number >= 0, got {seed!r}",
            hint="Any non-negative integer; the same seed gives the same bytes.",
        )
    return seed


def _prepare_out(out_dir: Path) -> Path:
    out = Path(out_dir).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"OUT is not a folder: {out}",
            hint="Give a folder (new or empty) to write the synthetic tree into.",
            path=str(out),
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError) as exc:
        raise UsageError(
            f"OUT cannot be created, a part of its path is a file: {out}",
            hint="Give a folder (new or empty) to write the synthetic tree into.",
            path=str(out),
        ) from exc
    except OSError as exc:
        raise from_os_error(exc, f"creating {out}", target="OUT") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise LocalError(
            f"Permission denied: OUT is not writable: {out}",
            hint="Choose a writable folder for OUT.",
            path=str(out),
        )
    ours = _previous_result(out) is not None
    theirs = [
        p.name
        for p in (out / dataset.DATASET_DIRNAME, *(_archive_path(out, f) for f in FORMATS[:2]))
        if p.exists() or p.is_symlink()
    ]
    if theirs and not ours:
        raise UsageError(
            f"OUT already holds {', '.join(theirs)} that synth did not write: {out}",
            hint="Give a new or empty folder; synth only replaces its own earlier output.",
            path=str(out),
        )
    return out


def _previous_result(out: Path) -> dict[str, Any] | None:
    try:
        doc = loads((out / RESULT_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("generator") == GENERATOR else None


def _archive_path(out: Path, fmt: str) -> Path:
    return out / f"{ARCHIVE_BASENAME}.{fmt}"


def estimate_bytes(counts: dict[dataset.Group, int], fmt: str) -> int:
    """A generous estimate of the bytes synth writes (tree + archive), for the space check."""
    tree = 0
    for g, n in counts.items():
        if g.version == dataset.VERSIONS[0]:
            pixels, image_bytes = V1_SHAPE[0] * V1_SHAPE[1], 2  # int16 in raw data
        else:
            pixels, image_bytes = V2_HEIGHT[1] * V2_WIDTH[1], 3  # RGB
        tree += n * pixels * (image_bytes + 1) + n * 1024
    return tree + (tree // 2 if fmt != "none" else 0) + (1 << 20)


def _check_workers(workers: int | None, progress: Progress | None = None) -> int:
    if workers is None:
        return process_workers(MAX_WORKERS, progress=progress)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(
            f"workers must be a whole number >= 1, got {workers!r}",
            hint="Leave it unset for one process per CPU (at most 8), or give 1 for none.",
        )
    return workers


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------
def _chunks(counts: dict[dataset.Group, int], workers: int) -> list[tuple[str, list[int]]]:
    """Work units: (version, indices); both variants of a version are rendered together."""
    per_version = {v: max(n for g, n in counts.items() if g.version == v) for v in dataset.VERSIONS}
    total = sum(per_version.values())
    size = max(1, min(32, math.ceil(total / (workers * 4))))
    out: list[tuple[str, list[int]]] = []
    for version, n in per_version.items():
        idx = list(range(1, n + 1))
        out += [(version, idx[i : i + size]) for i in range(0, n, size)]
    return out


def _render_pooled(
    tree: Path,
    seed: int,
    chunks: list[tuple[str, list[int]]],
    workers: int,
    progress: Progress,
    like_kaggle: bool = False,
) -> None:
    """Render ``chunks`` on ``workers`` processes: forked on POSIX, as the decode pass's are.

    Fork, not forkserver or spawn: those start each worker by importing the caller's
    ``__main__`` again, so ``L.synth(...)`` in a plain script without an
    ``if __name__ == "__main__":`` guard broke the pool (``BrokenProcessPool``). Forked
    workers also inherit numpy and tifffile, imported here once."""
    import multiprocessing

    method = (
        "fork"
        if os.name == "posix" and "fork" in multiprocessing.get_all_start_methods()
        else "spawn"
    )
    if method == "fork":
        _synth_phantom.preload()
    with process_pool(workers, multiprocessing.get_context(method)) as pool:
        futures = [
            pool.submit(make_chunk, str(tree), seed, v, idx, like_kaggle) for v, idx in chunks
        ]
        try:
            for fut in futures:
                files, _ = fut.result()
                progress.advance(files)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _generate(
    tree: Path,
    seed: int,
    counts: dict[dataset.Group, int],
    workers: int,
    progress: Progress,
    like_kaggle: bool = False,
) -> None:
    for leaf in dataset.LEAF_DIRS:
        (tree / leaf).mkdir(parents=True, exist_ok=True)
    total_pairs = sum(counts.values())
    progress.start("Generating synthetic slices", total_pairs * 2, "files")
    chunks = _chunks(counts, workers)
    if workers == 1 or total_pairs <= INLINE_PAIRS:
        for version, idx in chunks:
            files, _ = make_chunk(str(tree), seed, version, idx, like_kaggle)
            progress.advance(files)
    else:
        _render_pooled(tree, seed, chunks, workers, progress, like_kaggle)
    progress.done()


def _tree_stats(tree: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return files, size


def synthesize(
    out_dir: Path,
    *,
    pairs: int | None = None,
    scale: float | None = None,
    seed: int = 0,
    fmt: str = "zip",
    wrap: str | None = None,
    defects: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    like_kaggle: bool = False,
) -> SynthResult:
    """Write a synthetic LungSegDB tree (and archive) into ``out_dir``; see the module doc.

    ``like_kaggle``: every group as real CT slices arrive (signed int16 HU, padded corners;
    the preprocessed copy windowed uint8) instead of the default mix.

    ``workers`` is the number of rendering processes (default: ``LUNGSEGDB_WORKERS``, else one
    per CPU, at most 8); the bytes are the same whatever it is.
    Raises :class:`UsageError` for bad arguments or an OUT that is a file or holds data synth
    did not write, :class:`LocalError` when the machine refuses (permission, disk full).
    Everything is built in a temporary folder inside OUT and moved into place at the end, so
    an interrupted run leaves the previous output (or nothing), never half a tree or archive.
    """
    prog = ensure(progress)
    counts = pair_counts(pairs, scale)
    seed = _check_seed(seed)
    if fmt not in FORMATS:
        raise UsageError(
            f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}",
            hint="Use --format zip, --format tar.gz or --format none.",
        )
    wrap = _check_wrap(wrap)
    n_workers = _check_workers(workers, prog)
    out = _prepare_out(out_dir)
    check_free_space(out, estimate_bytes(counts, fmt), "the synthetic dataset")

    try:
        work = Path(tempfile.mkdtemp(prefix=".lungsegdb-synth-", dir=out))
    except OSError as exc:
        raise from_os_error(exc, f"writing into {out}", target="OUT") from exc
    job = _Job(work, out, counts, seed, fmt, wrap, defects, n_workers, bool(like_kaggle))
    try:
        return _synthesize_in(job, prog)
    except LungSegDBError:
        raise
    except OSError as exc:
        raise from_os_error(exc, f"writing the synthetic dataset into {out}", target="OUT") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class _Job:
    """One checked synth run: ``work`` is its private temp folder inside ``out``."""

    work: Path
    out: Path
    counts: dict[dataset.Group, int]
    seed: int
    fmt: str
    wrap: str | None
    defects: bool
    workers: int
    like_kaggle: bool = False

    @property
    def prefix(self) -> str:
        return f"{self.wrap}/" if self.wrap else ""


def _synthesize_in(job: _Job, progress: Progress) -> SynthResult:
    tree = job.work / dataset.DATASET_DIRNAME
    _generate(tree, job.seed, job.counts, job.workers, progress, job.like_kaggle)
    planted = Planted()
    if job.defects:
        planted = plant_defects(tree, job.seed, job.counts, job.prefix, job.like_kaggle)
        if job.fmt == "none":
            planted.defects = [d for d in planted.defects if d.where == "tree"]
    files, size = _tree_stats(tree)
    clean = {g.label: n for g, n in job.counts.items()}
    # validate's pairing (by stem), so the counts said are the ones validate reports
    found = {gs.group.label: len(gs.pairs) for gs in scan(tree).groups} if job.defects else clean
    staged = archive = None
    if job.fmt != "none":
        staged = job.work / f"{ARCHIVE_BASENAME}.{job.fmt}"
        write_archive(staged, job.fmt, tree, job.prefix, planted.archive_only, progress)
        final = _archive_path(job.out, job.fmt)
        archive = ArchiveInfo(final, *hash_file(staged), job.fmt)
    final_tree = _commit(job, tree, staged, archive)
    result = SynthResult(
        out=job.out,
        tree=final_tree,
        archive=archive,
        pairs={label: found.get(label, 0) for label in clean},
        clean_pairs=clean,
        files=files,
        bytes=size,
        seed=job.seed,
        wrap=job.wrap,
        like_kaggle=job.like_kaggle,
        defects=planted.defects,
        defects_file=_write_defects(job, final_tree, planted.defects),
    )
    _write_json(job.out / RESULT_FILE, result.to_dict())
    return result


def _commit(job: _Job, tree: Path, staged: Path | None, archive: ArchiveInfo | None) -> Path:
    """Swap the tree in, move the archive, drop stale output of an earlier run."""
    final_tree = job.out / dataset.DATASET_DIRNAME
    if final_tree.exists() or final_tree.is_symlink():
        if final_tree.is_dir() and not final_tree.is_symlink():
            final_tree.rename(job.work / "previous")
        else:
            final_tree.unlink()
    tree.rename(final_tree)
    for f in FORMATS[:2]:
        if f != job.fmt:
            _archive_path(job.out, f).unlink(missing_ok=True)
    if staged is not None and archive is not None:
        os.replace(staged, archive.path)
    return final_tree


def _write_defects(job: _Job, final_tree: Path, planted: list[Defect]) -> Path | None:
    """``defects.json`` with ``--defects``; else an earlier run's is removed."""
    path = job.out / DEFECTS_FILE
    if not job.defects:
        path.unlink(missing_ok=True)
        return None
    doc = {
        "generator": GENERATOR,
        "dataset_dir": str(final_tree),
        "seed": job.seed,
        "defects": [d.to_dict() for d in planted],
    }
    _write_json(path, doc)
    return path


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomically; then with the permissions the umask gives a new file."""
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


__all__ = [
    "ARCHIVE_DATE_TIME",
    "ARCHIVE_EPOCH",
    "COMPRESSLEVEL",
    "DEFAULT_PAIRS",
    "FORMATS",
    "HU_MAX",
    "HU_MIN",
    "TIFF_SOFTWARE",
    "V1_SHAPE",
    "ArchiveInfo",
    "Defect",
    "SynthResult",
    "archive_entries",
    "estimate_bytes",
    "natural_key",
    "pair_counts",
    "pair_rng",
    "phantom",
    "render_pair",
    "synthesize",
    "tiff_bytes",
    "window",
    "write_tar_gz",
    "write_zip",
]
