"""Help that renders: no lost ``<root>``, no ``<bool>`` beside flags, readable usage lines,
``-V``, and a bare ``lungsegdb`` that shows the help and succeeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import lungsegdb_cli as L

# internals: the CLI's in-process entry (the funnel), as the other CLI tests use it
from lungsegdb_cli.cli.app import run


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(argv)
    text = capsys.readouterr().out
    return code, " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())  # the panels' text, one line


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")


def test_bare_lungsegdb_prints_the_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _help([], capsys)
    assert code == 0 and "Usage: lungsegdb [OPTIONS] COMMAND" in text
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([flag]) == 0
    assert capsys.readouterr().out.strip() == f"lungsegdb {L.__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["download", "--help"],
        ["export", "--help"],
        ["validate", "--help"],
        ["pairs", "--help"],
        ["synth", "--help"],
    ],
    ids=["root", "download", "export", "validate", "pairs", "synth"],
)
def test_no_bool_placeholder_beside_flags(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _help(argv or ["--help"], capsys)
    assert code == 0 and "<bool>" not in text


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["download", "--help"], "kept in <root>/downloads"),
        (["pairs", "--help"], "<root>/.lungsegdb/splits.json"),
        (["split", "--help"], "instead of <root>/.lungsegdb/splits.json"),
    ],
    ids=["download", "pairs", "split"],
)
def test_angle_brackets_survive(
    argv: list[str], phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert phrase in _help(argv, capsys)[1]


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["export", "--help"], "Usage: lungsegdb export [OPTIONS] FORMAT [OUT]"),
        (["synth", "--help"], "Usage: lungsegdb synth [OPTIONS] OUT"),
    ],
    ids=["export", "synth"],
)
def test_usage_lines_read_plainly(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(argv, capsys)[1]
    assert usage in text and "{" not in text.split("Usage:")[1].split("[OUT]")[0]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["info", "--json", "true"], "--json"),
        (["info", "--quiet", "yes"], "--quiet"),
        (["validate", "--strict", "False"], "--strict"),
    ],
    ids=["json-true", "quiet-yes", "strict-False"],
)
def test_a_flag_given_a_value_is_told_so(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`info --json true` (what a `--json <bool>` in the help invited): exit 2 and two lines
    saying flags take no value, never "unexpected extra argument(s)"."""
    assert run([*argv, "--data-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    message = f"{flag} takes no value (got {' '.join(argv[1:])})"
    if flag == "--json":  # the error is the JSON document
        doc = json.loads(out)["error"]
        assert (doc["code"], doc["kind"], doc["message"]) == (2, "usage", message)
        return
    assert f"error: {message}" in err
    assert f"next: Write {flag} alone to turn it on" in err and "extra argument" not in err
    assert len(err.strip().splitlines()) == 2
