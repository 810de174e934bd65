"""cli/helptext.py: ``lungsegdb --help`` laid out without typer or rich, byte for byte."""

from __future__ import annotations

# internals: cli/helptext is compared with the typer app's own help rendering
import contextlib
import io
import sys

import pytest

from lungsegdb_cli.cli import helptext
from lungsegdb_cli.cli.app import run

#: Every width from the narrowest rendered here to 140, then a spread up to 1000.
WIDTHS = [*range(helptext.MIN_WIDTH, 141), *range(141, 301, 9), 640, helptext.MAX_WIDTH]


def _typer_help(monkeypatch: pytest.MonkeyPatch, width: int) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert run(["--help"]) == 0
    return buf.getvalue()


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """What typer renders without styles: no variable that forces a terminal or colours."""
    for var in (*helptext._STYLE_ENV, "TERMINAL_WIDTH", "COLUMNS"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("plain")
def test_the_root_help_is_typers_at_every_width(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = helptext._declarations()
    assert declared is not None, "cli/app.py or cli/options.py in a form helptext cannot read"
    differ = [w for w in WIDTHS if helptext.render(declared, w) != _typer_help(monkeypatch, w)]
    assert not differ, f"widths where the help differs from typer's: {differ}"


@pytest.mark.usefixtures("plain")
def test_root_help_takes_the_width_as_rich_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setenv("COLUMNS", "97")
    assert helptext.width() == 97
    monkeypatch.setenv("TERMINAL_WIDTH", "61")  # typer's own variable wins
    assert helptext.width() == 61
    text = helptext.root_help()
    assert text is not None and {len(line) for line in text.splitlines() if line} == {61}


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("plain")
@pytest.mark.parametrize(
    ("env", "stdout"),
    [
        ({"FORCE_COLOR": "1"}, io.StringIO()),
        ({"GITHUB_ACTIONS": "true"}, io.StringIO()),
        ({"TTY_COMPATIBLE": "1"}, io.StringIO()),
        ({"COLUMNS": str(helptext.MIN_WIDTH - 1)}, io.StringIO()),
        ({"COLUMNS": "wide"}, io.StringIO()),
        ({}, _Tty()),
        ({}, io.TextIOWrapper(io.BytesIO(), encoding="latin-1")),
    ],
    ids=[
        "force-color",
        "github-actions",
        "tty-compatible",
        "narrow",
        "bad-columns",
        "terminal",
        "latin-1",
    ],
)
def test_root_help_is_left_to_typer_when_it_could_differ(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], stdout: io.TextIOBase
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(sys, "stdout", stdout)
    assert helptext.root_help() is None


@pytest.mark.usefixtures("plain")
def test_another_typer_or_markup_in_a_help_is_left_to_typer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert helptext.root_help() is not None
    monkeypatch.setattr(helptext, "_typer_version", lambda: "0.30.0")
    assert helptext.root_help() is None
    declared = helptext._declarations()
    assert declared is not None
    for text in (
        "**bold**",
        "a `code` span",
        "see [the docs](x)",
        ":smile: yes",
        "1. a list",
        "snake_case_",
        "two  spaces",
        "tab\there",
    ):
        odd = declared._replace(commands=((*declared.commands[0][:1], text),))
        assert helptext.render(odd, 80) is None, text


def test_the_reader_gives_up_on_declarations_it_does_not_know(tmp_path, monkeypatch) -> None:
    """A command registered another way (``app.add_typer``, ``app.command()(f)``), another
    root option, another markup mode: the typer app renders the help."""
    from pathlib import Path

    here = Path(helptext.__file__).parent
    app_src = (here / "app.py").read_text("utf-8")
    (tmp_path / "options.py").write_text((here / "options.py").read_text("utf-8"))
    variants = [
        app_src + "\napp.add_typer(typer.Typer(), name='more')\n",
        app_src + "\napp.command()(print)\n",
        app_src.replace('rich_markup_mode="markdown"', 'rich_markup_mode="rich"'),
        app_src.replace(
            "version: opt.RootVersionOpt = False,",
            "version: opt.RootVersionOpt = False,\n    verbose: bool = False,",
        ),
    ]
    monkeypatch.setattr(helptext, "__file__", str(tmp_path / "helptext.py"))
    (tmp_path / "app.py").write_text(app_src)
    assert helptext._declarations() is not None
    for src in variants:
        assert src != app_src
        (tmp_path / "app.py").write_text(src)
        assert helptext._declarations() is None
