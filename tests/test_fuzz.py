"""Property-based fuzzing of every parser that takes hostile input.

Each target is called through its public function with arbitrary (and nearly-valid) input and
must keep its contract: return its documented result or raise its documented error, never
anything else, in bounded time and memory. Hypothesis runs under the deterministic
``lungsegdb`` profile registered in ``conftest.py`` (derandomized, no example database), so
both pytest-xdist workers collect and run the same examples.

Per-example time depends on how loaded the machine is, so no test has a Hypothesis deadline
(``deadline=None``); where a hang is the risk (TIFF headers, Drive pages, CLI runs) each example
runs under :func:`_no_hang`, which fails it after a generous wall clock instead of hanging the
suite.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import json
import posixpath
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

# internals: exercises archive, checks, ... directly (not public API)
from lungsegdb_cli.archive import treemap
from lungsegdb_cli.checks import manifest
from lungsegdb_cli.checks.scancache import SCHEMA, ScanCache, cache_file
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed
from lungsegdb_cli.sources.drive import pages as drive
from lungsegdb_cli.state import provenance
from lungsegdb_cli.tiff import decode as tiffinfo

# ---------------------------------------------------------------------------------------------
# Time: no deadlines (machine load), a hang bound where a hang is the risk
# ---------------------------------------------------------------------------------------------
#: Settings for every test here: examples may be slow on a loaded machine; that is no bug.
_fuzz = settings(deadline=None)
#: Wall clock after which one example counts as hung (far above any example on a loaded box).
_HANG_SECONDS = 10.0
_F = TypeVar("_F", bound=Callable[..., Any])


class Hung(AssertionError):
    """One example ran past :data:`_HANG_SECONDS`."""


@contextlib.contextmanager
def _bounded(seconds: float) -> Iterator[None]:
    """Run the body; fail with :class:`Hung` if it takes ``seconds`` or more. In the main
    thread a ``SIGALRM`` interrupts a body that never returns (a loop in Python code); the
    elapsed time is checked afterwards in any case."""
    alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if alarm:

        def _ring(_signum: int, _frame: Any) -> None:
            raise Hung(f"still running after {seconds:g} s: hung")

        previous = signal.signal(signal.SIGALRM, _ring)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - start
    if elapsed >= seconds:
        raise Hung(f"took {elapsed:.1f} s (bound {seconds:g} s): hung")


def _no_hang(seconds: float = _HANG_SECONDS) -> Callable[[_F], _F]:
    """Decorator (below ``@given``): every example runs under :func:`_bounded`."""

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            with _bounded(seconds):
                return fn(*args, **kwargs)

        return bounded  # type: ignore[return-value]

    return wrap


# ---------------------------------------------------------------------------------------------
# Shared strategies
# ---------------------------------------------------------------------------------------------
#: Archive folder names that the tree mapper recognises, and hostile components.
_TREE_PARTS = [
    "LungSegDB",
    "raw data",
    "preprocessed data",
    "Preprocessed_Data",
    "RAW-DATA",
    "V1",
    "v2",
    "CT_Images",
    "ct_masks",
    "CT Images",
    "images",
    "masks",
    "__MACOSX",
    ".DS_Store",
    "._a.TIF",
    "a.TIF",
    "b.tiff",
    "c.Tif",
    "d.png",
    "..",
    ".",
    "",
    " ",
    "...",
    ".. ",
    "C:",
    "c:x.TIF",
    "\x00",
    "a\x00.TIF",
    "\n",
    "x\r\n.TIF",
    "\u202e",
    "\udcff",
    "con",
    "aux.TIF",
]
_component = st.one_of(st.sampled_from(_TREE_PARTS), st.text(max_size=12))
_sep = st.sampled_from(["/", "\\", "//", "/./"])


@st.composite
def member_names(draw: st.DrawFn) -> str:
    """An archive member name: hostile components and separators, sometimes very long."""
    parts = draw(st.lists(_component, max_size=8))
    seps = draw(st.lists(_sep, min_size=len(parts), max_size=len(parts)))
    name = "".join(s + p for s, p in zip(seps, parts, strict=True))
    if not draw(st.booleans()):
        name = name.lstrip("/\\")  # relative, as most members are
    name = draw(st.sampled_from(["", "/", "\\", "C:", "c:/", "\\\\srv\\share\\"])) + name
    if draw(st.integers(0, 9)) == 0:
        name = name + "/" + "x" * draw(st.integers(200, 5000)) + ".TIF"
    return name


# ---------------------------------------------------------------------------------------------
# Archive member names: treemap.unsafe_reason and TreeMapper.decide
# ---------------------------------------------------------------------------------------------
def _escapes(name: str) -> bool:
    """Independent oracle: would writing ``name`` under a root leave it (POSIX or Windows)?"""
    if "\x00" in name:
        return True
    p = name.replace("\\", "/")
    if p.startswith("/") or (len(p) >= 2 and p[1] == ":" and p[0].isascii() and p[0].isalpha()):
        return True
    norm = posixpath.normpath("root/" + p)
    return norm != "root" and not norm.startswith("root/")


@_fuzz
@given(st.one_of(member_names(), st.text()))
@example("../evil.TIF")
@example("LungSegDB\\..\\..\\evil.TIF")
@example("/etc/passwd")
@example("C:evil.TIF")
@example("a/\x00/b")
def test_unsafe_reason_refuses_every_name_that_escapes(name: str) -> None:
    reason = treemap.unsafe_reason(name)
    assert reason is None or (isinstance(reason, str) and reason)
    if _escapes(name):
        assert reason is not None, name


@_fuzz
@given(st.lists(st.tuples(member_names(), st.booleans()), max_size=30))
def test_tree_mapper_places_files_only_inside_documented_leaves(
    members: list[tuple[str, bool]],
) -> None:
    mapper = treemap.TreeMapper()
    dests: list[str] = []
    nones = 0
    for name, is_dir in members:
        dest = mapper.decide(name, is_dir=is_dir)
        if dest is None:
            nones += 1
            continue
        assert not is_dir
        leaf, _, base = dest.rpartition("/")
        assert leaf in dataset.LEAF_DIRS, dest
        assert base and base not in (".", "..") and "/" not in base and "\\" not in base
        assert dataset.is_tiff(base) and not dataset.is_junk(name)
        assert base == treemap.split(name)[-1]
        if treemap.unsafe_reason(name) is None:
            assert "\x00" not in dest
        assert not _escapes(dest)
        dests.append(dest)
    assert len(dests) == len(set(dests)) == mapper.files  # no destination written twice
    assert mapper.skipped_count + mapper.junk <= nones
    assert len(mapper.skipped) == min(mapper.skipped_count, treemap.MAX_LISTED)
    assert set(mapper.leaves()) | set(mapper.missing()) == set(dataset.LEAF_DIRS)
    assert mapper.top_level() == sorted(mapper.top_level())


# ---------------------------------------------------------------------------------------------
# TIFF headers: tiffinfo.summarize on arbitrary bytes
# ---------------------------------------------------------------------------------------------
_TAGS = [
    254,
    256,
    257,
    258,
    259,
    262,
    266,
    273,
    277,
    278,
    279,
    284,
    317,
    320,
    322,
    323,
    324,
    325,
    330,
    338,
    339,
    340,
    341,
    34665,
]
_COUNTS = st.one_of(st.integers(0, 8), st.sampled_from([2**16, 2**31 - 1, 2**32 - 1]))
_VALUES = st.one_of(
    st.integers(0, 64), st.sampled_from([0, 1, 8, 16, 32, 2**15, 2**16 - 1, 2**31, 2**32 - 1])
)


@st.composite
def tiff_bytes(draw: st.DrawFn) -> bytes:
    """A valid TIFF header (``II*\\0`` or ``MM\\0*``) with one random IFD and a random tail."""
    bo = draw(st.sampled_from(["<", ">"]))
    out = bytearray(b"II*\x00" if bo == "<" else b"MM\x00*")
    out += struct.pack(bo + "I", 8)
    entries = draw(
        st.lists(
            st.tuples(
                st.sampled_from(_TAGS) | st.integers(0, 2**16 - 1),
                st.integers(0, 18),
                _COUNTS,
                _VALUES,
            ),
            max_size=16,
        )
    )
    entries.sort(key=lambda e: e[0])
    out += struct.pack(bo + "H", len(entries))
    for tag, typ, count, value in entries:
        out += struct.pack(bo + "HHII", tag, typ, count, value)
    out += struct.pack(bo + "I", draw(st.sampled_from([0, 0, 8, 2**32 - 1])))  # next IFD
    out += draw(st.binary(max_size=512))
    return bytes(out)


#: Memory one summary of a file of a few hundred bytes may take (tracemalloc peak).
_TIFF_MEMORY_LIMIT = 64 << 20
#: Found by the fuzzer: 134 bytes whose ImageWidth tag (256) claims 2**31 - 1 BYTE values.
_TIFF_HUGE_TAG = (
    b"II*\x00\x08\x00\x00\x00\x0a\x00"  # header, IFD at 8 with 10 entries
    + struct.pack("<HHII", 254, 0, 0, 0) * 9  # NewSubfileType with an invalid type
    + struct.pack("<HHII", 256, 1, 2**31 - 1, 0)  # ImageWidth: 2**31 - 1 BYTE values
    + bytes(4)  # no next IFD
)


def _summarize(tmp: Path, data: bytes, kind: str) -> tiffinfo.FileSummary:
    """Summarise ``data`` as a file; check the summary's contract (ok, or a one-line error)."""
    path = tmp / "x.TIF"
    path.write_bytes(data)
    s = tiffinfo.summarize(str(path), kind)
    assert isinstance(s, tiffinfo.FileSummary) and s.kind == kind
    assert s.ok or (isinstance(s.error, str) and s.error and "\n" not in s.error)
    if s.ok:
        assert len(s.shape) >= 2 and s.pages >= 1
    return s


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scratch folder for the module (hypothesis examples reuse it; each overwrites)."""
    return tmp_path_factory.mktemp("fuzz")


_KINDS = st.sampled_from([tiffinfo.IMAGE, tiffinfo.MASK])


@_fuzz
@given(data=st.binary(max_size=2048), kind=_KINDS)
@example(data=b"", kind=tiffinfo.IMAGE)
@example(data=b"II*\x00", kind=tiffinfo.MASK)
@example(data=b"\x89PNG\r\n\x1a\n" + bytes(20), kind=tiffinfo.IMAGE)
@_no_hang()
def test_summarize_arbitrary_bytes_is_a_summary(scratch: Path, data: bytes, kind: str) -> None:
    _summarize(scratch, data, kind)


@settings(_fuzz, max_examples=150)
@given(data=tiff_bytes(), kind=_KINDS)
@_no_hang()
def test_summarize_tiff_header_with_random_ifd_is_a_summary(
    scratch: Path, data: bytes, kind: str
) -> None:
    _summarize(scratch, data, kind)


@settings(_fuzz, max_examples=60)
@given(data=tiff_bytes(), kind=_KINDS)
@example(data=_TIFF_HUGE_TAG, kind=tiffinfo.IMAGE)
@_no_hang()
def test_summarize_memory_is_bounded_by_the_file(scratch: Path, data: bytes, kind: str) -> None:
    tracemalloc.start()
    try:
        _summarize(scratch, data, kind)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < _TIFF_MEMORY_LIMIT, f"{peak:,} bytes traced for a {len(data):,}-byte file"


# ---------------------------------------------------------------------------------------------
# Manifest lines: manifest.parse
# ---------------------------------------------------------------------------------------------
_HEX = st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64)


@st.composite
def manifest_text(draw: st.DrawFn) -> str:
    """Lines that are nearly ``sha256sum`` output: good lines mixed with hostile ones."""
    line = st.one_of(
        st.builds(lambda h, n: f"{h}  {n}", _HEX, st.text(max_size=30)),
        st.builds(lambda h, n: f"\\{h} *{n}", _HEX, st.text(max_size=30)),
        st.text(max_size=90),
    )
    lines = draw(st.lists(line, max_size=10))
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


@_fuzz
@given(st.one_of(manifest_text(), st.text()))
def test_manifest_parse_gives_a_dict_or_check_failed(text: str) -> None:
    try:
        got = manifest.parse(text)
    except CheckFailed as exc:
        assert exc.message
        return
    assert isinstance(got, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in got.items())
    assert all(len(v) == 64 and set(v) <= set("0123456789abcdef") for v in got.values())


def _lines_parse(text: str) -> dict[str, str] | str:
    try:
        return manifest._parse_lines(text)
    except CheckFailed as exc:
        return exc.kind


@_fuzz
@given(st.one_of(manifest_text(), st.text(), st.dictionaries(st.text(max_size=20), _HEX)))
@example({"raw data/V1/CT_Images/1.TIF": "a" * 64, "raw data/V1/CT_Images/2.TIF": "b" * 64})
def test_the_one_pass_parse_agrees_with_the_line_by_line_one(text: str | dict[str, str]) -> None:
    """``parse`` reads a plain manifest in one regular-expression pass (what every
    ``download`` of an intact tree does): whenever it answers, the answer is the line-by-line
    parse's, and it never accepts what that parse refuses."""
    if isinstance(text, dict):  # a written manifest of arbitrary names
        text = "".join(f"{h}  {n}\n" for n, h in text.items() if "\n" not in n)
    one_pass = manifest._parse_plain(text)
    if one_pass is not None:
        assert one_pass == _lines_parse(text)


@pytest.mark.parametrize(
    "line",
    [
        f"{'A' * 64}  raw data/x.TIF",  # upper-case digest: lowered by the line parse
        f"{'a' * 64}  raw data/x.TIF\r",  # CRLF
        f"\\{'a' * 64}  raw data/a\\nb.TIF",  # escaped name
        f"{'a' * 64}  ./x.TIF",
        f"{'a' * 64}  .x.TIF",
        f"{'a' * 64}  raw data/../x.TIF",
        f"{'a' * 64}  raw data//x.TIF",
        f"{'a' * 64}  raw data/",
        f"{'a' * 64}  /etc/passwd",
        f"{'a' * 64}  raw\x00data",
        f"{'a' * 64} raw data/x.TIF",  # one space: malformed
        "",  # a blank line
    ],
    ids=[
        "upper",
        "crlf",
        "escaped",
        "dot",
        "dotfile",
        "dotdot",
        "empty-component",
        "folder",
        "absolute",
        "nul",
        "one-space",
        "blank",
    ],
)
def test_what_is_not_plain_goes_line_by_line(line: str) -> None:
    good = f"{'b' * 64}  raw data/ok.TIF\n"
    text = good + line + "\n"
    assert manifest._parse_plain(text) is None
    got = _lines_parse(text)
    try:
        assert manifest.parse(text) == got
    except CheckFailed as exc:
        assert exc.kind == got


def test_a_written_manifest_is_parsed_in_one_pass() -> None:
    items = [
        manifest.Entry(f"raw data/V{v}/CT_Images/{i}.TIF", f"{i:064x}", 1)
        for v in (1, 2)
        for i in range(500)
    ]
    text = manifest.format_lines(items)
    assert manifest._parse_plain(text) == {e.path: e.sha256 for e in items}


_PATH_CHARS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))


#: A path the manifest may hold: 1-3 components, none empty, ``.`` or ``..`` (others are
#: refused as leaving the tree; see test_manifest_parse_gives_a_dict_or_check_failed).
_COMPONENT = st.text(_PATH_CHARS.filter(lambda c: c != "/"), min_size=1, max_size=8).filter(
    lambda c: c not in (".", "..")
)
_PLAIN_PATH = st.lists(_COMPONENT, min_size=1, max_size=3).map("/".join)


@_fuzz
@given(st.dictionaries(_PLAIN_PATH, _HEX, max_size=5))
@example({"raw data/V1/CT_Images/a\x0cb.TIF": "a" * 64})
def test_manifest_round_trips_every_path(entries: dict[str, str]) -> None:
    items = [manifest.Entry(p, h.lower(), 1) for p, h in entries.items()]
    assert manifest.parse(manifest.format_lines(items)) == {e.path: e.sha256 for e in items}


#: Characters ``str.splitlines`` breaks a line on that ``sha256sum`` writes raw in a name ...
_RAW_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
#: ... and those it escapes (a leading backslash on the line): backslash, newline, CR.
_ESCAPED = ["\\", "\n", "\r"]


@pytest.mark.parametrize("char", _RAW_BREAKS + _ESCAPED, ids=ascii)
def test_manifest_round_trips_a_path_holding(char: str) -> None:
    names = [f"a{char}b.TIF", f"{char}a.TIF", f"a.TIF{char}", f"{char}{char}"]
    items = [manifest.Entry(f"raw data/V1/CT_Images/{n}", "ab" * 32, 1) for n in names]
    text = manifest.format_lines(items)
    assert text.count("\n") == len(items)  # one line per entry
    assert manifest.parse(text) == {e.path: e.sha256 for e in items}
    assert manifest.parse(text.replace("\n", "\r\n")) == manifest.parse(text)  # CRLF file


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs GNU coreutils sha256sum")
def test_sha256sum_checks_what_format_lines_writes(tmp_path: Path) -> None:
    """coreutils reads the manifest as manifest.parse does (names with every character that
    splitlines breaks on, and the escaped ones)."""
    entries = []
    for i, char in enumerate(_RAW_BREAKS + _ESCAPED):
        name = f"{i}{char}x.TIF"
        data = name.encode()
        (tmp_path / name).write_bytes(data)
        entries.append(manifest.Entry(name, hashlib.sha256(data).hexdigest(), len(data)))
    (tmp_path / "m.sha256").write_bytes(manifest.format_lines(entries).encode())
    done = subprocess.run(
        ["sha256sum", "-c", "--strict", "--quiet", "m.sha256"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    parsed = manifest.parse((tmp_path / "m.sha256").read_bytes().decode())
    assert parsed == {e.path: e.sha256 for e in entries}


@pytest.mark.parametrize(
    "digest",
    ["g" * 64, "0x" + "0" * 62, "\uff10" * 64, "\u0663" * 64, "-" * 64, "a" * 63 + " "],
    ids=["g", "0x", "fullwidth-0", "arabic-3", "dashes", "trailing-space"],
)
def test_manifest_parse_refuses_a_digest_that_is_not_hex(digest: str) -> None:
    with pytest.raises(CheckFailed, match="Malformed manifest line 2") as caught:
        manifest.parse(f"{'a' * 64}  ok.TIF\n{digest}  x.TIF\n")
    assert caught.type is CheckFailed


def _paths(root: Path) -> DataPaths:
    return DataPaths(root=root, dataset_dir=root / "LungSegDB")


@_fuzz
@given(st.binary(max_size=300))
@example(b"\xff\xfe" + b"a" * 64 + b"  x\n")
def test_manifest_read_of_arbitrary_bytes_gives_entries_or_check_failed(
    scratch: Path, data: bytes
) -> None:
    paths = _paths(scratch / "manifest-root")
    paths.manifest.parent.mkdir(parents=True, exist_ok=True)
    paths.manifest.write_bytes(data)
    try:
        got = manifest.read(paths)
    except CheckFailed:
        return
    assert got is None or all(isinstance(e, manifest.Entry) for e in got)


# ---------------------------------------------------------------------------------------------
# Provenance and decode-cache JSON
# ---------------------------------------------------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_DEEP = b"[" * 100_000 + b"]" * 100_000  # valid JSON, nested past the recursion limit


def _json_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        _json_values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
        st.just(_DEEP),
        st.just(b'{"a": ' * 50_000),
    )


@_fuzz
@given(_json_bytes())
@example(b"\xff\xfe{}")
@example(_DEEP)
def test_provenance_read_gives_a_record_or_none(scratch: Path, data: bytes) -> None:
    path = scratch / "provenance.json"
    path.write_bytes(data)
    got = provenance.read(path)
    assert got is None or isinstance(got, dict)


def test_provenance_read_of_a_directory_or_missing_file_is_none(tmp_path: Path) -> None:
    assert provenance.read(tmp_path) is None
    assert provenance.read(tmp_path / "absent.json") is None


#: A decode-cache summary record has this many fields (FileSummary.to_json()).
_N_FIELDS = len(tiffinfo.FileSummary("image").to_json())


@st.composite
def cache_docs(draw: st.DrawFn) -> bytes:
    """Gzip'd JSON for the decode cache: right schema with hostile entries, or anything."""
    summary = st.lists(_json_values, min_size=_N_FIELDS - 1, max_size=_N_FIELDS - 1).map(
        lambda rest: ["image", *rest]
    )
    entry = st.one_of(
        _json_values,
        st.lists(_json_values, min_size=3, max_size=3),
        st.tuples(st.just(0), st.just(0), summary).map(list),
    )
    doc = draw(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "schema": st.just(SCHEMA),
                    "entries": st.dictionaries(st.sampled_from(["a", "b"]), entry),
                }
            ),
            _json_values,
        )
    )
    raw = json.dumps(doc).encode()
    return draw(st.sampled_from([gzip.compress(raw, mtime=0), raw, gzip.compress(raw)[:10]]))


def _load_cache(root: Path, data: bytes) -> ScanCache:
    paths = _paths(root)
    target = cache_file(paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return ScanCache.load(paths)


@_fuzz
@given(cache_docs())
@example(gzip.compress(b"\xff\xfe not utf-8", mtime=0))
@example(gzip.compress(b'{"schema": 3, "entries": []}', mtime=0))
def test_scan_cache_load_and_lookup_never_raise(scratch: Path, data: bytes) -> None:
    from lungsegdb_cli.dataset.tree import FileEntry

    cache = _load_cache(scratch / "cache-root", data)
    for rel in ("a", "b"):
        got = cache.get(FileEntry(rel, 0, 0), "image")
        assert got is None or isinstance(got, tiffinfo.FileSummary)


def test_scan_cache_load_of_deeply_nested_json_is_empty(tmp_path: Path) -> None:
    assert _load_cache(tmp_path, gzip.compress(_DEEP, mtime=0)).empty


# ---------------------------------------------------------------------------------------------
# Drive HTML pages: drive.classify
# ---------------------------------------------------------------------------------------------
def _drive_pages() -> list[str]:
    from support.drive_fake import (
        LOGIN_PAGE_AS_OCTET,
        NOT_FOUND_PAGE,
        QUOTA_PAGE,
        SIGN_IN_PAGE,
        virus_page,
    )

    virus = virus_page(
        "https://drive.usercontent.google.com/download",
        "X1" * 10,
        "a.zip",
        3 << 30,
        "7c0e4e5f-6b2d",
        "download-form",
    )
    return [QUOTA_PAGE, NOT_FOUND_PAGE, SIGN_IN_PAGE, LOGIN_PAGE_AS_OCTET, virus]


@st.composite
def mutated_pages(draw: st.DrawFn, *, url_chars: bool) -> str:
    """A realistic Drive page with a few splices: text inserted, deleted or replaced."""
    page = draw(st.sampled_from(_drive_pages()))
    alphabet = st.characters() if url_chars else st.characters(blacklist_characters="[]")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(page)))
        j = draw(st.integers(i, min(len(page), i + 40)))
        page = page[:i] + draw(st.text(alphabet, max_size=20)) + page[j:]
    return page


_URLS = st.sampled_from(
    [
        "https://drive.google.com/uc?id=X1&export=download",
        "https://drive.usercontent.google.com/download?id=X1",
        "https://accounts.google.com/signin",
        "http://127.0.0.1:5/uc?id=X1",
    ]
)
_STATUS = st.sampled_from([200, 403, 404, 410, 500])


def _check_page(page: drive.Page, url: str, status: int) -> None:
    assert isinstance(page.kind, drive.PageKind)
    assert page.url == url and page.status == status
    assert isinstance(page.title, str) and isinstance(page.detail, str)
    assert page.next_url is None or (
        isinstance(page.next_url, str) and page.kind is drive.PageKind.VIRUS_SCAN
    )


@settings(_fuzz, max_examples=150)
@given(
    body=st.one_of(st.binary(max_size=2000), mutated_pages(url_chars=False).map(str.encode)),
    url=_URLS,
    status=_STATUS,
)
@_no_hang()
def test_classify_any_body_is_a_page(body: bytes, url: str, status: int) -> None:
    _check_page(drive.classify(body, url=url, status=status), url, status)


@_fuzz
@given(body=mutated_pages(url_chars=True).map(str.encode), url=_URLS, status=_STATUS)
@example(
    body=b'<form id="download-form" action="http://[::1/x"></form>', url="http://a/", status=200
)
@_no_hang()
def test_classify_pages_with_any_link_text_is_a_page(body: bytes, url: str, status: int) -> None:
    _check_page(drive.classify(body, url=url, status=status), url, status)


@_fuzz
@given(st.one_of(st.none(), st.text(max_size=40)))
@example("\u00b2")
@example("Wed, 21 Oct 2015 07:28:00 GMT")
def test_retry_after_is_seconds_or_none(value: str | None) -> None:
    got = drive.parse_retry_after(value, now=0.0)
    assert got is None or (isinstance(got, float) and got >= 0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("\u00b2", None),
        ("\u0663", None),
        ("\uff15", None),
    ],
    ids=["120", "padded", "zero", "superscript-2", "arabic-3", "fullwidth-5"],
)
def test_retry_after_delta_seconds_are_ascii_digits(value: str, seconds: float | None) -> None:
    assert drive.parse_retry_after(value, now=0.0) == seconds


# ---------------------------------------------------------------------------------------------
# CLI option values: cli.run never crashes, always a documented exit code
# ---------------------------------------------------------------------------------------------
_EXIT_CODES = {0, 1, 2, 3, 4, 5}
#: What a POSIX argv can hold: any character but NUL, plus surrogate-escaped bytes.
_ARG_CHARS = st.one_of(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),
)
_arg = st.one_of(
    st.text(_ARG_CHARS, max_size=40),
    st.sampled_from(["", "-", "--", "-1", "0", "1e400", "nan", "inf", " ", "--json", "V1"]),
)
_sha = st.one_of(_arg, _HEX, _HEX.map(lambda h: f"  {h.upper()}\n"), _HEX.map(lambda h: h[:63]))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoNetwork:
    """Refuses (and records) every connection that is not to loopback."""

    def __init__(self) -> None:
        self.attempts: list[Any] = []
        self._connect = socket.socket.connect

    def connect(self, sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost"):
            self.attempts.append(address)
            raise ConnectionRefusedError("fuzz tests never leave the machine")
        return self._connect(sock, address)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Environment for the CLI fuzzers: Drive pointed at a closed loopback port, no network,
    no user cache; folders to point ``--data-dir`` and ``--archive`` at."""
    base = tmp_path_factory.mktemp("fuzz-cli")
    guard = _NoNetwork()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(drive.ENV_ENDPOINT, f"http://127.0.0.1:{_closed_port()}")
        mp.setenv("XDG_CACHE_HOME", str(base / "xdg"))
        mp.setenv("LUNGSEGDB_HOME", str(base / "home"))
        mp.setenv("LUNGSEGDB_WORKERS", "1")
        for var in ("LUNGSEGDB_URL", "LUNGSEGDB_SHA256", "LUNGSEGDB_DEBUG", "CI"):
            mp.delenv(var, raising=False)
        mp.setattr(socket.socket, "connect", lambda s, a: guard.connect(s, a))
        (base / "empty").mkdir()
        (base / "file").write_bytes(b"not a folder")
        (base / "junk.zip").write_bytes(b"PK\x03\x04" + bytes(60))
        (base / "html.zip").write_bytes(b"<!DOCTYPE html><html>quota</html>")
        yield {"base": base}
    assert guard.attempts == [], f"tried to reach the network: {guard.attempts}"


@st.composite
def data_dirs(draw: st.DrawFn) -> str:
    """``--data-dir`` values confined to the fuzz folder: existing, missing, a file, odd names."""
    name = draw(st.text(_ARG_CHARS, min_size=1, max_size=20)).replace("/", "_").replace("\\", "_")
    if name in (".", ".."):
        name = "_"
    return draw(st.sampled_from(["empty", "file", "missing/deeper", "tree", name]))


def _tree(base: Path, synth_tree: Path) -> None:
    if not (base / "tree").exists():
        shutil.copytree(synth_tree.parent, base / "tree", symlinks=True)


class _Streams:
    """stdout and stderr as a real process has them on this machine (UTF-8; undecodable
    bytes from argv written back with ``surrogateescape``, stderr ``backslashreplace``)."""

    def __init__(self, stdout_errors: str = "surrogateescape") -> None:
        self.out = io.TextIOWrapper(io.BytesIO(), "utf-8", stdout_errors, write_through=True)
        self.err = io.TextIOWrapper(io.BytesIO(), "utf-8", "backslashreplace", write_through=True)

    def text(self) -> tuple[str, str]:
        out, err = (s.buffer.getvalue().decode("utf-8", "replace") for s in (self.out, self.err))
        return out, err


def _run_cli(argv: list[str], *, stdout_errors: str = "surrogateescape") -> int:
    """Run the CLI in-process (bounded by :data:`_CLI_HANG_SECONDS`); check the exit code and
    that no traceback was printed."""
    streams = _Streams(stdout_errors)
    with (
        _bounded(_CLI_HANG_SECONDS),
        contextlib.redirect_stdout(streams.out),
        contextlib.redirect_stderr(streams.err),
    ):
        code = run(argv)
    out, err = streams.text()
    assert code in _EXIT_CODES, (code, argv, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out, (argv, err[-3000:])
    if "--json" in argv and not any(a == "--help" for a in argv):
        assert isinstance(json.loads(out), dict), out[:500]  # exactly one JSON document
    return code


def _resolve_dir(env: dict[str, Path], rel: str) -> str:
    return str(env["base"] / rel)


_cli_settings = settings(
    _fuzz,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
#: Wall clock for one CLI run (a command on the 3-pair synth tree, in-process).
_CLI_HANG_SECONDS = 60.0


@_cli_settings
@given(
    command=st.sampled_from(["download", "verify"]),
    sha=_sha,
    data_dir=data_dirs(),
    json_out=st.booleans(),
    quick=st.booleans(),
)
def test_cli_sha256_values(
    cli_env: dict[str, Path],
    synth_tree: Path,
    command: str,
    sha: str,
    data_dir: str,
    json_out: bool,
    quick: bool,
) -> None:
    _tree(cli_env["base"], synth_tree)
    argv = [command, "--sha256", sha, "--data-dir", _resolve_dir(cli_env, data_dir), "--quiet"]
    if command == "download":
        argv += ["--offline", "--no-extract"]
    elif quick:
        argv.append("--quick")
    if json_out:
        argv.append("--json")
    _run_cli(argv)


@_cli_settings
@given(
    archive=st.one_of(st.sampled_from(["junk.zip", "html.zip", "empty", "missing.zip"]), _arg),
    command=st.sampled_from(["download", "extract"]),
    data_dir=data_dirs(),
    json_out=st.booleans(),
)
def test_cli_archive_values(
    cli_env: dict[str, Path],
    archive: str,
    command: str,
    data_dir: str,
    json_out: bool,
) -> None:
    safe = archive.replace("/", "_").replace("\\", "_")
    target = "tree" if data_dir == "tree" else "scratch-" + str(len(data_dir) % 7)
    argv = [
        command,
        "--archive",
        _resolve_dir(cli_env, safe or "empty"),
        "--quiet",
        "--data-dir",
        _resolve_dir(cli_env, target if command == "extract" else data_dir),
    ]
    if command == "download":
        argv.append("--offline")
    if json_out:
        argv.append("--json")
    code = _run_cli(argv)
    assert code != 0  # none of these archives (or folders) holds a tree


@_cli_settings
@given(
    url=st.one_of(
        _arg,
        st.builds(
            lambda s, t: f"{s}{t}",
            st.sampled_from(
                [
                    "https://drive.google.com/file/d/",
                    "https://drive.google.com/uc?id=",
                    "https://drive.google.com/drive/folders/",
                    "http://",
                    "https://[",
                    "ftp://x/",
                    "http://127.0.0.1:1/",
                    "https://docs.google.com/open?id=",
                ]
            ),
            st.text(_ARG_CHARS, max_size=30),
        ),
    ),
    json_out=st.booleans(),
)
@example(url="http://[::1", json_out=False)
def test_cli_url_values(cli_env: dict[str, Path], url: str, json_out: bool) -> None:
    argv = ["download", "--offline", "--url", url, "--quiet"]
    argv += ["--data-dir", _resolve_dir(cli_env, "empty")]
    if json_out:
        argv.append("--json")
    _run_cli(argv)


@_cli_settings
@given(
    command=st.sampled_from(["stats", "validate", "info"]),
    variant=st.one_of(st.none(), st.sampled_from(["raw", "preprocessed data", "RAW"]), _arg),
    version=st.one_of(st.none(), st.sampled_from(["V1", "v2"]), _arg),
    data_dir=data_dirs(),
    json_out=st.booleans(),
)
def test_cli_read_commands_with_any_values(
    cli_env: dict[str, Path],
    synth_tree: Path,
    command: str,
    variant: str | None,
    version: str | None,
    data_dir: str,
    json_out: bool,
) -> None:
    _tree(cli_env["base"], synth_tree)
    argv = [command, "--data-dir", _resolve_dir(cli_env, data_dir), "--quiet"]
    if command == "stats":
        argv += [] if variant is None else ["--variant", variant]
        argv += [] if version is None else ["--version", version]
    if json_out:
        argv.append("--json")
    _run_cli(argv)


_number = st.one_of(
    _arg,
    st.integers(-5, 3).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e-9", "0.0001", "10.5", "0x10", "1_0", "2**3", "\u0661"]),
)


@settings(_cli_settings, max_examples=30)
@given(
    pairs=st.one_of(st.none(), _number),
    scale=st.one_of(st.none(), _number),
    seed=st.one_of(st.none(), _number),
    wrap=st.one_of(st.none(), _arg, st.sampled_from(["../x", "/abs", "a/b", "C:\\x", "."])),
    fmt=st.sampled_from(["none", "zip", "tar.gz", "rar", ""]),
    json_out=st.booleans(),
)
def test_cli_synth_with_any_values(
    cli_env: dict[str, Path],
    pairs: str | None,
    scale: str | None,
    seed: str | None,
    wrap: str | None,
    fmt: str,
    json_out: bool,
) -> None:
    out = Path(tempfile.mkdtemp(dir=cli_env["base"]))
    argv = ["synth", str(out / "o"), "--format", fmt, "--quiet"]
    # keep each example fast: at most one pair per group, whatever the fuzzed value says
    if pairs is not None:
        argv += ["--pairs", pairs if _small(pairs, 1) else "1"]
    if scale is not None:
        argv += ["--scale", scale if _small(scale, 0.0006) else "1e-9"]
    if pairs is None and scale is None:
        argv += ["--pairs", "1"]
    if seed is not None:
        argv += ["--seed", seed]
    if wrap is not None:
        argv += ["--wrap", wrap]
    if json_out:
        argv.append("--json")
    try:
        code = _run_cli(argv)
        if code == 0:  # everything written stays inside OUT
            for p in out.rglob("*"):
                assert p.resolve().is_relative_to(out.resolve())
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _small(value: str, limit: float) -> bool:
    """True unless ``value`` is a number that could ask synth for real work (> ``limit``)."""
    with contextlib.suppress(ValueError, OverflowError):
        return not float(value) > limit
    with contextlib.suppress(ValueError):
        return int(value, 0) <= limit
    return True


@_cli_settings
@given(
    var=st.sampled_from(
        [
            "LUNGSEGDB_LOCK_TIMEOUT",
            "LUNGSEGDB_MAX_BYTES",
            "LUNGSEGDB_MAX_FILES",
            "LUNGSEGDB_MAX_RATIO",
            "LUNGSEGDB_WORKERS",
            "LUNGSEGDB_NO_CACHE",
        ]
    ),
    value=st.one_of(_arg, _number),
    command=st.sampled_from(["extract", "validate", "download"]),
)
@example(var="LUNGSEGDB_LOCK_TIMEOUT", value="soon", command="extract")
@example(var="LUNGSEGDB_MAX_BYTES", value="1e400", command="extract")
def test_cli_env_values(
    cli_env: dict[str, Path],
    synth_tree: Path,
    var: str,
    value: str,
    command: str,
) -> None:
    _tree(cli_env["base"], synth_tree)
    data = Path(tempfile.mkdtemp(dir=cli_env["base"]))
    argv = [command, "--data-dir", str(data), "--quiet"]
    if command != "validate":
        argv += ["--archive", str(cli_env["base"] / "junk.zip")]
    if command == "download":
        argv.append("--offline")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(var, value.replace("\x00", ""))
            _run_cli(argv)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_cli_human_output_of_an_undecodable_path_on_a_strict_stdout(tmp_path: Path) -> None:
    _run_cli(["info", "--data-dir", str(tmp_path / "\udcff")], stdout_errors="strict")
