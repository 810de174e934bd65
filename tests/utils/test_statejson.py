"""Hostile JSON state files: nested past any sane depth, or holding lone surrogates.

Every reader of a state file (journal, splits, provenance, sizes sidecar, resume state, decode
cache, an export's record) parses through ``_statejson.loads``: each such file gives the
command's documented answer for a corrupt file, never a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

# internals: exercises cli/app, dataset/paths, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset.paths import resolve
from lungsegdb_cli.utils import statejson

DEEP = {
    "array": "[" * 100_000 + "]" * 100_000,
    "object": '{"a":' * 100_000 + "1" + "}" * 100_000,
}


# ---------------------------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", sorted(DEEP))
def test_deep_nesting_is_a_value_error_not_a_recursion_error(shape: str) -> None:
    with pytest.raises(statejson.StateJSONError, match="nested deeper than 32"):
        statejson.loads(DEEP[shape].encode())


@pytest.mark.parametrize(
    "text",
    [
        "{",
        '{"a": 1',
        "[1, 2",
        '{"a": [1, 2, {"b": "x"',
        "",
        '["ab',
        '{"splits": {"train": ["a", "b"], "val": ["c"]',
        "[" * 32,
    ],
)
def test_a_file_cut_short_is_said_to_end_early_not_to_nest_too_deep(text: str) -> None:
    """What a full disk or a killed copy leaves: said as such (it used to be "nested deeper
    than 32 levels" for any unclosed bracket)."""
    with pytest.raises(statejson.StateJSONError, match="ends early"):
        statejson.loads(text.encode())


def test_every_cut_of_a_deep_document_is_a_value_error_never_a_recursion_error() -> None:
    doc = json.dumps({"a": [[[[{"b": [1, 2, {"c": "]]}"}]}]]]], "d": "x"}).encode()
    deep = ("[" * 5000 + "]" * 5000).encode()
    for data in (doc, deep):
        for cut in range(len(data) - 1, 0, -7):
            with pytest.raises(ValueError, match=r"ends early|nested deeper"):
                statejson.loads(data[:cut])


def test_the_depth_limit_is_exact() -> None:
    assert statejson.loads("[" * 32 + "]" * 32) is not None
    with pytest.raises(statejson.StateJSONError):
        statejson.loads("[" * 33 + "]" * 33)
    # brackets, quotes and backslashes inside strings are not structure
    assert statejson.loads(json.dumps(["[[[[" * 20, '\\"{{' * 20, "\\"])) is not None


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_TEXT = st.text(alphabet='[]{}"\\/bfnrtux\u00e9\U0001f600\n\x00', max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=20,
)


@given(value=_JSON, ascii_only=st.booleans())
def test_too_deep_agrees_with_the_parsed_depth(value: Any, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode()
    depth = _depth(value)
    assert not statejson.too_deep(data, depth)
    assert statejson.too_deep(data, depth - 1) == (depth > 0)


@pytest.mark.parametrize("text", ['"\\ud800"', '{"\\udfff": 1}', '["a\\udc00b"]', '"\\uDBFF"'])
def test_a_lone_surrogate_is_refused(text: str) -> None:
    with pytest.raises(statejson.StateJSONError, match="lone surrogate"):
        statejson.loads(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"\\udc80x"', "\udc80x"),  # a file name byte that is not UTF-8 (surrogateescape)
        ('"\\ud83d\\ude00"', "\U0001f600"),  # a pair is one character
        ('"\\\\ud800"', "\\ud800"),  # an escaped backslash, then text
    ],
)
def test_surrogateescape_bytes_and_pairs_are_kept(text: str, value: str) -> None:
    assert statejson.loads(text) == value


def test_bytes_are_strict_utf8() -> None:
    with pytest.raises(ValueError):
        statejson.loads(b'"\xff"')


# ---------------------------------------------------------------------------------------------
# Every state file, through the commands that read it
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def installed(synth_result: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with a tree, a provenance record, splits and a csv export in ``out``.
    Read-only: tests copy it."""
    base = tmp_path_factory.mktemp("statejson")
    data = base / "data"
    for argv in (
        ["download", "--archive", str(synth_result.archive.path)],
        ["split"],
        ["export", "csv", str(base / "out")],
    ):
        assert run([*argv, "--data-dir", str(data), "-q"]) == 0
    return base


@pytest.fixture
def copy(installed: Path, tmp_path: Path) -> Path:
    shutil.copytree(installed, tmp_path / "c", symlinks=True)
    return tmp_path / "c"


def _state_file(base: Path, state: str) -> Path:
    paths = resolve(base / "data", {})
    return {
        "journal": paths.journal,
        "splits": paths.state_dir / "splits.json",
        "provenance": paths.provenance,
        "sizes": paths.manifest_sizes,
        "record": base / "out" / "lungsegdb-export.json",
    }[state]


def _cli(base: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    argv = [a.replace("{base}", str(base)) for a in argv]
    if argv[0] != "verify-export":
        argv += ["--data-dir", str(base / "data")]
    code = run(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


#: (state file, command, its exit code with that file corrupt)
_READERS = [
    ("journal", ["info"], 1),
    ("journal", ["download", "--offline"], 1),
    ("splits", ["pairs"], 1),
    ("splits", ["export", "csv", "{base}/out2"], 1),
    ("record", ["verify-export", "{base}/out"], 1),
    ("provenance", ["info"], 0),
    ("sizes", ["verify", "--quick"], 0),
]


@pytest.mark.parametrize("shape", sorted(DEEP))
@pytest.mark.parametrize(("state", "argv", "code"), _READERS, ids=lambda v: str(v))
def test_deeply_nested_state_file_is_corrupt_state_not_a_traceback(
    copy: Path,
    capsys: pytest.CaptureFixture[str],
    state: str,
    argv: list[str],
    code: int,
    shape: str,
) -> None:
    _state_file(copy, state).write_text(DEEP[shape])
    got, out, err = _cli(copy, argv, capsys)
    assert got == code, err
    if code:
        lines = err.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("error: "), err
        assert "nested deeper than 32 levels" in lines[0]
    got, out, err = _cli(copy, [*argv, "--json"], capsys)
    doc = json.loads(out)
    assert got == code and doc["ok"] is (code == 0)


@pytest.mark.parametrize(("state", "argv", "code"), _READERS, ids=lambda v: str(v))
def test_a_state_file_cut_in_half_is_said_to_end_early(
    copy: Path, capsys: pytest.CaptureFixture[str], state: str, argv: list[str], code: int
) -> None:
    path = _state_file(copy, state)
    data = path.read_bytes() if path.exists() else _journal_naming("LungSegDB").encode()
    path.write_bytes(data[: len(data) // 2])
    got, _out, err = _cli(copy, argv, capsys)
    assert got == code, err
    assert "nested deeper" not in err
    if code:
        lines = err.strip().splitlines()
        assert len(lines) == 2 and "ends early" in lines[0], err


def _journal_naming(final: str) -> str:
    op = {"op": "put", "final": final, "staged": ".LungSegDB.staging-x", "aside": ".a-x"}
    return json.dumps({"version": 1, "txid": "x", "state": "committed", "ops": [op]})


def _with(path: Path, edit: Any) -> str:
    doc = json.loads(path.read_text())
    edit(doc)
    return json.dumps(doc)


#: (state file, its new text from the old path, command, exit code): a path or name with
#: the lone surrogate U+D800 (no file name can hold it) escaped in the JSON.
_SURROGATES = [
    ("journal", lambda p: _journal_naming("LungSegDB\ud800"), ["info"], 1),
    ("splits", lambda p: _with(p, lambda d: d["splits"]["train"].append("x\ud800")), ["pairs"], 1),
    (
        "record",
        lambda p: _with(p, lambda d: d.update(dataset_dir="/x\ud800")),
        ["verify-export", "{base}/out"],
        1,
    ),
    ("provenance", lambda p: _with(p, lambda d: d.update(path=d["path"] + "\ud800")), ["info"], 0),
    # a corrupt provenance is a finding (provenance-corrupt, exit 1), never "no record"
    (
        "provenance",
        lambda p: _with(p, lambda d: d.update(path=d["path"] + "\ud800")),
        ["verify"],
        1,
    ),
    (
        "provenance",
        lambda p: _with(p, lambda d: d.update(path=d["path"] + "\ud800")),
        ["download", "--offline"],
        1,
    ),
]


@pytest.mark.parametrize(
    ("state", "text", "argv", "code"), _SURROGATES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_lone_surrogate_in_a_state_file_is_corrupt_state_not_a_traceback(
    copy: Path,
    capsys: pytest.CaptureFixture[str],
    state: str,
    text: Any,
    argv: list[str],
    code: int,
) -> None:
    path = _state_file(copy, state)
    path.write_text(text(path))
    assert "\\ud800" in path.read_text()
    for extra in ([], ["--json"]):
        got, out, err = _cli(copy, [*argv, *extra], capsys)
        assert got == code, err
        if extra:
            json.loads(out)


def test_surrogateescape_text_from_a_record_is_shown_escaped(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record's md5 of the surrogateescape range is kept (such strings are how a file name
    that is not UTF-8 is spelled), and shown escaped, never written raw to a UTF-8 stream."""
    path = _state_file(copy, "provenance")
    path.write_text(_with(path, lambda d: d.update(md5="ab\udc80")))
    got, out, err = _cli(copy, ["download", "--offline"], capsys)
    assert got == 0, err
    assert "  md5:      ab\\x80" in out.splitlines()
    got, out, err = _cli(copy, ["download", "--offline", "--json"], capsys)
    assert json.loads(out)["archive"]["md5"] == "ab\udc80"
