"""The CLI frame: the error funnel, --json errors, help, start-up, python -m."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lungsegdb_cli import errors

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import info
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset

COMMANDS = ("download", "verify", "extract", "validate", "stats", "info", "synth")


def _raise(exc: BaseException):  # type: ignore[no-untyped-def]
    def boom(*_a: object, **_k: object) -> None:
        raise exc

    return boom


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.CheckFailed("data bad", hint="look"), 1),
        (errors.UsageError("bad option", hint="fix it"), 2),
        (errors.DownloadError("quota page", hint="wait"), 3),
        (errors.ArchiveError("corrupt zip", hint="re-download"), 4),
        (errors.DiskFullError("disk full", hint="free space"), 5),
        (OSError(errno.EACCES, "Permission denied", "/x"), 5),
        (KeyboardInterrupt(), 130),
    ],
)
def test_funnel_maps_errors_to_exit_codes_and_two_lines(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    exc: BaseException,
    code: int,
) -> None:
    monkeypatch.setattr(info, "collect", _raise(exc))
    assert run(["info", "--data-dir", str(tmp_path)]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2, captured.err
    assert lines[0].startswith("error: ")
    assert lines[1].strip().startswith("next: ")
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.ChecksumMismatch("mismatch", expected="a", actual="b"), 1),
        (errors.ArchiveError("corrupt"), 4),
        (KeyboardInterrupt(), 130),
    ],
)
def test_json_errors_are_one_document_on_stdout(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    exc: BaseException,
    code: int,
) -> None:
    monkeypatch.setattr(info, "collect", _raise(exc))
    assert run(["info", "--json", "--data-dir", str(tmp_path)]) == code
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert doc["error"]["code"] == code
    assert doc["error"]["message"]


def test_debug_shows_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(info, "collect", _raise(errors.ArchiveError("corrupt")))
    assert run(["info", "--debug", "--data-dir", str(tmp_path)]) == 4
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "--bogus"],
        ["no-such-command"],
        ["synth"],  # missing OUT
        ["synth", "out", "--format", "rar"],
        ["synth", "out", "--pairs", "many"],
    ],
)
def test_usage_errors_exit_2_without_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_data_dir_that_is_a_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    assert run(["info", "--data-dir", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_takes_the_common_options(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert run([name, "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--data-dir", "--json", "--quiet"):
        assert option in out, f"{name} lacks {option}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LUNGSEGDB_DEBUG", None)
    return env


def test_python_dash_m_and_fast_startup() -> None:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "lungsegdb_cli", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0
    assert "synth" in proc.stdout
    # Measured, not asserted tightly (timings are noisy): the heavy libraries stay unimported.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, lungsegdb_cli.cli.app as c; c.run(['--help']); "
            "heavy = ('numpy', 'tifffile', 'requests', 'gdown'); "
            "print(','.join(m for m in heavy if m in sys.modules), file=sys.stderr)",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    assert probe.stderr.strip() == "", probe.stderr
    assert elapsed < 10


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from lungsegdb_cli import __version__

    assert run(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Text from data never reaches the terminal raw (control characters shown as \x1b)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain/é.TIF", "plain/é.TIF"),
        ("a\x1b[31mb.TIF", "a\\x1b[31mb.TIF"),
        ("bell\x07 nl\n cr\r tab\t", "bell\\x07 nl\\x0a cr\\x0d tab\\x09"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("rlo\u202egnp.exe", "rlo\\u202egnp.exe"),
        ("not-utf8-\udcff", "not-utf8-\\xff"),
        ("lone-\ud800", "lone-\\ud800"),
    ],
)
def test_escape_shows_control_characters(raw: str, shown: str) -> None:
    from lungsegdb_cli.utils.textsafe import escape

    assert escape(raw) == shown
    assert escape(shown) == shown  # idempotent on what it prints


ESC_NAME = "a\x1b[31mb.TIF"


def _assert_escaped(text: str) -> None:
    assert "\x1b" not in text, repr(text)
    assert "\\x1b[31m" in text, text


def test_validate_findings_show_an_escape_sequence_escaped(
    tmp_path: Path, synth_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    root = tmp_path / "root"
    shutil.copytree(synth_tree, root / "LungSegDB")
    images = root / "LungSegDB" / "raw data" / "V1" / "CT_Images"
    shutil.copy(next(images.iterdir()), images / ESC_NAME)  # an image without its mask
    assert run(["validate", "--data-dir", str(root), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "missing-mask" in out
    _assert_escaped(out)


@pytest.mark.parametrize(
    ("name", "shown"),
    [(ESC_NAME, "a\\x1b[31mb"), (os.fsdecode(b"bad\xff.TIF"), "bad\\xff")],
    ids=["escape-sequence", "not-utf8"],
)
def test_validate_shows_a_lone_files_stem_as_its_path_is_shown(
    tmp_path: Path, synth_tree: Path, capsys: pytest.CaptureFixture[str], name: str, shown: str
) -> None:
    """The stem quoted in missing-mask/missing-image is escaped like the path (``ls -b``):
    ``\\xff`` for a byte that is not UTF-8, never Python's ``\\udcff``."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(synth_tree, root / "LungSegDB")
    masks = root / "LungSegDB" / "raw data" / "V1" / "CT_Masks"
    shutil.copy(next(masks.iterdir()), masks / name)  # a mask without its image
    assert run(["validate", "--data-dir", str(root), "--quiet"]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "no image with stem" in ln)
    assert f"CT_Masks/{shown}" in line and f"stem '{shown}'" in line, line
    assert "udc" not in line


def test_extract_output_shows_archive_names_escaped(
    tmp_path: Path, synth_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zipfile

    archive = tmp_path / "a.zip"
    wrap = f"w{ESC_NAME}"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(synth_tree.rglob("*")):
            if p.is_file():
                zf.write(p, f"{wrap}/LungSegDB/{p.relative_to(synth_tree).as_posix()}")
        zf.writestr(f"{wrap}/LungSegDB/raw data/V1/CT_Images/{ESC_NAME}.txt", b"notes")
    assert run(["extract", "--archive", str(archive), "--data-dir", str(tmp_path / "d")]) == 0
    captured = capsys.readouterr()
    assert "mapped:" in captured.out
    _assert_escaped(captured.out)
    assert "\x1b" not in captured.err


def test_error_messages_show_an_escape_sequence_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / ESC_NAME
    assert run(["extract", "--archive", str(missing), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    _assert_escaped(err)


# ---------------------------------------------------------------------------------------------
# Bad paths and values: exit 2, one two-line message, never a traceback
# ---------------------------------------------------------------------------------------------
def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert run(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 2, err
    return err


@pytest.mark.parametrize("command", ["download", "verify", "extract", "validate", "stats", "info"])
def test_every_command_refuses_a_data_dir_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    extra = ["--offline"] if command == "download" else []
    assert "not a directory" in _usage_error(capsys, [command, *extra, "--data-dir", str(f)])


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "--data-dir", "x\x00y"],
        ["validate", "--data-dir", "x\x00y"],
        ["extract", "--archive", "a\x00b.zip"],
        ["stats", "--csv", "x\x00.csv"],
        ["synth", "out\x00dir"],
    ],
)
def test_a_path_with_a_nul_byte_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    _usage_error(capsys, argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--sha256", "xyz"],
        ["verify", "--sha256", "g" * 64],
        ["download", "--offline", "--sha256", "0" * 63],
        ["download", "--offline", "--sha256", "0" * 65],
    ],
)
def test_a_malformed_sha256_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert "Malformed SHA-256" in _usage_error(capsys, [*argv, "--data-dir", str(tmp_path)])


@pytest.mark.parametrize(
    ("option", "target"),
    [("--csv", "dir"), ("--plot", "dir"), ("--csv", "file/x.csv")],
)
def test_stats_output_that_cannot_be_a_file_is_a_usage_error(
    tmp_path: Path, synth_tree: Path, capsys: pytest.CaptureFixture[str], option: str, target: str
) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    argv = ["stats", "--data-dir", str(synth_tree), option, str(tmp_path / target), "--quiet"]
    assert option in _usage_error(capsys, argv)


# ---------------------------------------------------------------------------------------------
# The --json contract: every document has "ok" and "schema"; errors have one shape
# ---------------------------------------------------------------------------------------------
def _json_run(argv: list[str]) -> tuple[int, dict[str, object]]:
    """Run the CLI in-process with ``--json``: the exit code and the one document on stdout."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run([*argv, "--json", "--quiet"])
    assert "Traceback" not in err.getvalue(), err.getvalue()
    doc = json.loads(out.getvalue())
    assert isinstance(doc, dict)
    return code, doc


@pytest.fixture(scope="module")
def json_places(
    tmp_path_factory: pytest.TempPathFactory, synth_result: object, synth_defects: object
) -> dict[str, str]:
    """Folders for the --json table: a data dir downloaded from the synth archive (read-only
    here), the archive, a junk zip, the defects tree, an empty folder, a scratch base."""
    base = tmp_path_factory.mktemp("json-contract")
    archive = str(synth_result.archive.path)  # type: ignore[attr-defined]
    code, doc = _json_run(["download", "--archive", archive, "--data-dir", str(base / "data")])
    assert code == 0, doc
    (base / "empty").mkdir()
    (base / "junk.zip").write_bytes(b"PK\x03\x04" + bytes(60))
    return {
        "data": str(base / "data"),
        "zip": archive,
        "junk": str(base / "junk.zip"),
        "defects": str(synth_defects.tree),  # type: ignore[attr-defined]
        "empty": str(base / "empty"),
        "base": str(base),
    }


#: (id, argv with {place} fields from json_places and {tmp} a fresh folder, exit code, kind).
#: kind: "result" (the command's own document) or an error kind (the funnel's document).
_JSON_CASES = [
    ("download", ["download", "--archive", "{zip}", "--data-dir", "{tmp}/d"], 0, "result"),
    ("extract", ["extract", "--archive", "{zip}", "--data-dir", "{tmp}/e"], 0, "result"),
    ("verify", ["verify", "--data-dir", "{data}"], 0, "result"),
    ("verify-quick", ["verify", "--quick", "--data-dir", "{data}"], 0, "result"),
    ("validate", ["validate", "--data-dir", "{data}"], 0, "result"),
    ("stats", ["stats", "--data-dir", "{data}"], 0, "result"),
    ("info", ["info", "--data-dir", "{data}"], 0, "result"),
    ("info-empty", ["info", "--data-dir", "{empty}"], 0, "result"),
    ("synth", ["synth", "{tmp}/s", "--pairs", "1", "--format", "none"], 0, "result"),
    ("validate-defects", ["validate", "--data-dir", "{defects}"], 1, "result"),
    ("verify-pin-differs", ["verify", "--data-dir", "{data}", "--sha256", "a" * 64], 1, "result"),
    (
        "download-pin-differs",
        ["download", "--archive", "{zip}", "--data-dir", "{tmp}/d", "--sha256", "a" * 64],
        1,
        "checksum-mismatch",
    ),
    ("malformed-sha256", ["verify", "--sha256", "nothex", "--data-dir", "{data}"], 2, "usage"),
    ("unknown-option", ["stats", "--no-such-option"], 2, "usage"),
    ("offline", ["download", "--offline", "--data-dir", "{empty}"], 3, "offline"),
    ("bad-archive", ["extract", "--archive", "{junk}", "--data-dir", "{tmp}/e"], 4, "bad-archive"),
]


@pytest.mark.parametrize(
    ("argv", "code", "kind"), [c[1:] for c in _JSON_CASES], ids=[c[0] for c in _JSON_CASES]
)
def test_every_json_document_has_ok_and_schema(
    json_places: dict[str, str], tmp_path: Path, argv: list[str], code: int, kind: str
) -> None:
    from lungsegdb_cli.cli.app import JSON_SCHEMA

    got, doc = _json_run([a.format(tmp=tmp_path, **json_places) for a in argv])
    assert got == code, doc
    assert type(doc["schema"]) is int and doc["schema"] == JSON_SCHEMA == 1
    assert doc["ok"] is (code == 0)
    assert list(doc)[:2] == ["ok", "schema"]
    if kind == "result":
        assert "error" not in doc
    else:
        _assert_error_document(doc, code, kind)


def _assert_error_document(doc: dict[str, object], code: int, kind: str) -> None:
    """``{"ok": false, "schema": 1, "error": {"kind", "code", "message", "hint", ...}}``."""
    assert set(doc) == {"ok", "schema", "error"}, doc
    error = doc["error"]
    assert isinstance(error, dict)
    assert {"kind", "code", "message", "hint"} <= set(error)
    assert error["code"] == code and error["kind"] == kind
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["hint"], str) and error["hint"]


def test_a_json_error_for_a_held_lock_has_the_shape_too(
    json_places: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 5 (the local machine refused): the writer lock held by someone else."""
    fcntl = pytest.importorskip("fcntl")
    from lungsegdb_cli.dataset.paths import DataPaths

    paths = DataPaths(root=tmp_path, dataset_dir=tmp_path / "LungSegDB")
    paths.ensure_state_dir()
    monkeypatch.setenv("LUNGSEGDB_LOCK_TIMEOUT", "0")
    with open(paths.lock, "a+b") as other:  # another open file: flock conflicts with it
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        argv = ["extract", "--archive", json_places["zip"], "--data-dir", str(tmp_path)]
        code, doc = _json_run(argv)
    assert code == 5
    _assert_error_document(doc, 5, "lock-timeout")


def test_main_makes_a_strict_stdout_escape_what_it_cannot_encode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The net under escaped human output: a strict stream (Python's default under e.g.
    en_US.UTF-8) backslash-escapes instead of raising UnicodeEncodeError; others are kept."""
    import io

    from lungsegdb_cli.cli.app import _safe_streams

    strict = io.TextIOWrapper(io.BytesIO(), "utf-8", "strict", write_through=True)
    lenient = io.TextIOWrapper(io.BytesIO(), "utf-8", "surrogateescape", write_through=True)
    monkeypatch.setattr(sys, "stdout", strict)
    monkeypatch.setattr(sys, "stderr", lenient)
    _safe_streams()
    assert (strict.errors, lenient.errors) == ("backslashreplace", "surrogateescape")
    strict.write("a\udcffb")
    assert strict.buffer.getvalue() == b"a\\udcffb"  # type: ignore[attr-defined]


def test_a_7z_member_name_too_long_for_the_file_system_is_exit_4_naming_it(
    tmp_path: Path,
) -> None:
    """The 7z path (py7zr pushes data to writers) maps ENAMETOOLONG like zip and tar do: the
    archive's name is the problem (exit 4, bad-archive), not the local machine (5)."""
    py7zr = pytest.importorskip("py7zr")
    name = "x" * 300 + ".TIF"  # NAME_MAX is 255 bytes on common file systems
    archive = tmp_path / "long.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        for leaf in dataset.LEAF_DIRS:  # the documented tree, one tiny file per leaf
            z.writestr(b"II*\x00abc", f"LungSegDB/{leaf}/000.TIF")
        z.writestr(b"II*\x00abc", f"LungSegDB/raw data/V1/CT_Images/{name}")
    data = tmp_path / "data"
    code, doc = _json_run(["extract", "--archive", str(archive), "--data-dir", str(data)])
    assert code == 4, doc
    _assert_error_document(doc, 4, "bad-archive")
    message = doc["error"]["message"]  # type: ignore[index]
    assert name in message and "too long" in message
    assert not (data / "LungSegDB").exists()


@pytest.mark.parametrize("value", ["abc", "0", "-2", "2.5", "nan", "inf", "1e400"])
@pytest.mark.parametrize("command", ["validate", "stats"])
def test_a_bad_lungsegdb_workers_is_a_usage_error(
    synth_tree: Path, monkeypatch: pytest.MonkeyPatch, command: str, value: str
) -> None:
    """LUNGSEGDB_WORKERS is validated like every numeric env var: exit 2 naming it, never a
    silent fallback to the default."""
    monkeypatch.setenv("LUNGSEGDB_WORKERS", value)
    code, doc = _json_run([command, "--data-dir", str(synth_tree)])
    assert code == 2, doc
    _assert_error_document(doc, 2, "usage")
    assert "LUNGSEGDB_WORKERS" in doc["error"]["message"]  # type: ignore[index]


@pytest.mark.parametrize(("value", "workers"), [("1", 1), (" 2 ", 2), ("1e0", 1), ("", None)])
def test_a_good_lungsegdb_workers_is_used(
    monkeypatch: pytest.MonkeyPatch, value: str, workers: int | None
) -> None:
    from lungsegdb_cli.checks import decodepass

    monkeypatch.setenv("LUNGSEGDB_WORKERS", value)
    got = decodepass.default_workers()
    assert got == workers if workers is not None else 1 <= got <= 8


# ---------------------------------------------------------------------------------------------
# --debug: accepted by every command, one declaration, read by the funnel only
# ---------------------------------------------------------------------------------------------
#: (command, argv after the command with {tmp} a fresh folder, exit code): each fails in the
#: library (or an option check), so --debug must add a traceback to the two-line message.
_DEBUG_CASES = [
    ("download", ["--offline", "--data-dir", "{tmp}"], 3),
    ("verify", ["--data-dir", "{tmp}"], 3),
    ("extract", ["--archive", "{tmp}/missing.zip", "--data-dir", "{tmp}"], 2),
    ("validate", ["--data-dir", "{tmp}/missing"], 2),
    ("stats", ["--data-dir", "{tmp}/missing"], 2),
    ("info", ["--data-dir", "{tmp}/afile"], 2),
    ("synth", ["{tmp}/out", "--pairs", "0"], 2),
]


def test_the_debug_table_covers_every_command() -> None:
    assert sorted(c[0] for c in _DEBUG_CASES) == sorted(COMMANDS)


@pytest.mark.parametrize(
    ("command", "argv", "code"), _DEBUG_CASES, ids=[c[0] for c in _DEBUG_CASES]
)
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_every_command_takes_debug_and_shows_a_traceback_with_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    argv: list[str],
    code: int,
    debug: bool,
) -> None:
    monkeypatch.delenv("LUNGSEGDB_DEBUG", raising=False)
    (tmp_path / "afile").write_text("x")
    args = [command, *(a.format(tmp=tmp_path) for a in argv)]
    assert run([*args, "--debug"] if debug else args) == code
    err = capsys.readouterr().err
    assert ("Traceback" in err) is debug, err
    assert err.strip().splitlines()[-2].startswith("error: "), err


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_lists_debug_in_its_help_and_the_app_help_says_so(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert run([name, "--help"]) == 0
    assert "--debug" in capsys.readouterr().out
    assert run(["--help"]) == 0
    assert "--debug" in capsys.readouterr().out


def test_debug_does_not_change_a_successful_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["info", "--json", "--data-dir", str(tmp_path)]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert run(["info", "--debug", "--json", "--data-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == plain


def test_no_command_function_has_a_debug_parameter() -> None:
    """--debug reaches the funnel through argv; the commands never see it."""
    import inspect

    from lungsegdb_cli.cli import app as cli

    for name in COMMANDS:
        assert "debug" not in inspect.signature(getattr(cli, name)).parameters, name


# ---------------------------------------------------------------------------------------------
# Interpreter-wide switches: main() (the console script) only, never run() (in-process)
# ---------------------------------------------------------------------------------------------
_SWITCHES_PROBE = """
import gc, sys
from lungsegdb_cli.cli import tuning as _tuning
from lungsegdb_cli.cli import app as cli, entry
{call}
print(_tuning._applied, gc.get_freeze_count() > 0, file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("call", "is_main"),
    [
        ("cli.run(['--version'])", False),
        ("try:\n    entry.main(['--version'])\nexcept SystemExit:\n    pass", True),
    ],
    ids=["run", "main"],
)
def test_only_main_sets_interpreter_wide_switches(call: str, is_main: bool) -> None:
    """main() tunes malloc (glibc only) and freezes the collector before exit; run() does
    neither: a program or test calling it in-process keeps its own settings."""
    probe = subprocess.run(
        [sys.executable, "-c", _SWITCHES_PROBE.format(call=call)],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    expected = f"{is_main and sys.platform.startswith('linux')} {is_main}"
    assert probe.stderr.strip().splitlines()[-1] == expected, probe.stderr


# ---------------------------------------------------------------------------------------------
# The human rendering of every command (lungsegdb_cli.cli.render), from its typed result
# ---------------------------------------------------------------------------------------------
#: (id, runs before the one checked, the run checked, lines its stdout must hold). {zip} is the
#: synth archive, {sha} its SHA-256, {tree} a clean tree, {defects} a tree with defects, {tmp}
#: a fresh folder. Lines are whole lines of output, compared after stripping the right end.
_HUMAN_CASES = [
    (
        "download",
        [],
        ["download", "--archive", "{zip}", "--data-dir", "{tmp}/d"],
        [
            "LungSegDB is ready: {tmp}/d/LungSegDB",
            "  files:    24",
            "  sha256:   {sha}",
            "  source:   file://{zip}",
            "  manifest: {tmp}/d/LungSegDB.sha256",
        ],
    ),
    (
        "download-again",
        [["download", "--archive", "{zip}", "--data-dir", "{tmp}/d"]],
        ["download", "--archive", "{zip}", "--data-dir", "{tmp}/d"],
        ["LungSegDB dataset already complete: nothing to do.", "  files:    24"],
    ),
    (
        "download-no-extract",
        [],
        ["download", "--archive", "{zip}", "--data-dir", "{tmp}/d", "--no-extract"],
        ["Archive downloaded and checked (not extracted).", "  sha256:   {sha}"],
    ),
    (
        "download-no-extract-again",
        [["download", "--archive", "{zip}", "--data-dir", "{tmp}/d", "--no-extract"]],
        ["download", "--archive", "{zip}", "--data-dir", "{tmp}/d", "--no-extract"],
        ["LungSegDB archive already complete: nothing to do."],
    ),
    (
        "extract-again",
        [["extract", "--archive", "{zip}", "--data-dir", "{tmp}/e"]],
        ["extract", "--archive", "{zip}", "--data-dir", "{tmp}/e"],
        ["  manifest: {tmp}/e/LungSegDB.sha256"],
    ),
    (
        "verify-ok",
        [["download", "--archive", "{zip}", "--data-dir", "{tmp}/d"]],
        ["verify", "--data-dir", "{tmp}/d"],
        ["  archive {zip}: sha256 matches the recorded checksum", "  sha256 {sha}"],
    ),
    (
        "verify-pin-differs",
        [["download", "--archive", "{zip}", "--data-dir", "{tmp}/d"]],
        ["verify", "--data-dir", "{tmp}/d", "--sha256", "a" * 64],
        [
            "  archive:  {zip}",
            f"  expected: {'a' * 64} (pin)",
            "  actual:   {sha}",
            "  problem:  sha256 differs from the pin",
        ],
    ),
    (
        "validate-defects",
        [],
        ["validate", "--data-dir", "{defects}"],
        [
            "missing-mask (error, 1):",
            "FAILED: 19 pairs, 6 errors, 7 warnings",
            "  preprocessed data/V1/CT_Images/4.TIF: no mask with stem '4' in "
            "preprocessed data/V1/CT_Masks",
        ],
    ),
    (
        "info",
        [["download", "--archive", "{zip}", "--data-dir", "{tmp}/d"]],
        ["info", "--data-dir", "{tmp}/d"],
        [
            "Local state: extracted",
            "  pin in CI:   LUNGSEGDB_SHA256={sha}",
            "  manifest:    {tmp}/d/LungSegDB.sha256",
        ],
    ),
    (
        "info-empty",
        [],
        ["info", "--data-dir", "{tmp}"],
        ["  archive:     (none kept)", "  manifest:    (none)"],
    ),
    (
        "stats",
        [],
        ["stats", "--data-dir", "{tree}", "--csv", "{tmp}/s.csv"],
        ["Normalisation constants (over every pixel of each group's images):", "CSV: {tmp}/s.csv"],
    ),
    (
        "synth",
        [],
        ["synth", "{tmp}/s", "--pairs", "1", "--defects"],
        [
            "Synthetic LungSegDB tree: {tmp}/s/LungSegDB",
            "  raw data/V2: 1 pair",
            "  missing-mask: preprocessed data/V1/CT_Images/2.TIF",
        ],
    ),
]


@pytest.mark.parametrize(
    ("before", "argv", "lines"), [c[1:] for c in _HUMAN_CASES], ids=[c[0] for c in _HUMAN_CASES]
)
def test_human_output_of_every_command(
    tmp_path: Path,
    synth_result: object,
    synth_defects: object,
    capsys: pytest.CaptureFixture[str],
    before: list[list[str]],
    argv: list[str],
    lines: list[str],
) -> None:
    archive = synth_result.archive  # type: ignore[attr-defined]
    places = {
        "zip": str(archive.path),
        "sha": archive.sha256,
        "tree": str(synth_result.tree),  # type: ignore[attr-defined]
        "defects": str(synth_defects.tree),  # type: ignore[attr-defined]
        "tmp": str(tmp_path),
    }
    for step in before:
        assert run([*(a.format(**places) for a in step), "--quiet"]) in (0, 1)
    capsys.readouterr()
    run([*(a.format(**places) for a in argv), "--quiet"])
    out = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    for line in lines:
        assert line.format(**places) in out, (line, out)


@pytest.mark.parametrize(
    ("value", "traceback"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
        (" ", False),
    ],
)
def test_lungsegdb_debug_reads_off_as_every_other_switch_does(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    traceback: bool,
) -> None:
    monkeypatch.setenv("LUNGSEGDB_DEBUG", value)
    assert run(["verify", "--data-dir", str(tmp_path), "--sha256", "x"]) == 2
    err = capsys.readouterr().err
    assert ("Traceback" in err) is traceback, err
