"""``lungsegdb --help`` without typer or rich: the same bytes, rendered here.

typer renders the root help with rich (a usage line, the app's description as Markdown, an
*Options* and a *Commands* panel). Loading typer, click, pydantic and rich for it costs
~0.15 s; this module lays the same text out in plain Python in about a millisecond, from the
same declarations: the app's help, each command's name and docstring (read from
``cli/app.py``'s source with :mod:`ast`, nothing imported) and ``--version``'s help (from
``cli/options.py``). The layout follows rich's own rules -- word wrap
(``rich._wrap.divide_line``), table column widths (``Table._calculate_column_widths`` with
its collapse and ratio steps), panels -- for what typer builds; ``tests/cli/test_helptext.py``
compares it byte for byte with typer's output at every width from :data:`MIN_WIDTH` to 300.

:func:`root_help` returns None, and the typer app renders the help, whenever the result
might differ: output to a terminal or anything that makes rich colour it (styles are not
reproduced here), a width outside the checked range, an encoding other than UTF-8, another
typer than the one checked (:data:`TYPER`), help text with Markdown or emoji syntax, or
declarations in a form this reader does not know.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["MIN_WIDTH", "TYPER", "render", "root_help", "width"]

#: The typer minor version whose help layout this reproduces.
TYPER = "0.29."
#: The narrowest console rendered here (narrower: the typer app renders it).
MIN_WIDTH = 40
MAX_WIDTH = 1000
#: Environment variables that can make rich or typer render differently (colours, a forced
#: terminal, a fixed width): any of them set, typer renders the help.
_STYLE_ENV = (
    "FORCE_COLOR",
    "PY_COLORS",
    "GITHUB_ACTIONS",
    "TTY_COMPATIBLE",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "JUPYTER_COLUMNS",
    "TYPER_USE_RICH",  # set to off, typer prints click's plain help
)
#: typer's own options of the root command: (long, short, help).
_TYPER_OPTIONS = (
    ("--install-completion", "", "Install completion for the current shell."),
    (
        "--show-completion",
        "",
        "Show completion for the current shell, to copy it or customize the installation.",
    ),
    ("--help", "-h", "Show this message and exit."),
)
#: The type column beside the root's flags: empty, as ``options.Group`` (the app's ``cls``)
#: drops typer's ``<bool>`` placeholder.
_TYPE = ""
#: The root command class this rendering assumes (``cls=`` of ``typer.Typer``).
_GROUP = "opt.Group"
#: Text that Markdown or rich's emoji codes would change: such help is left to typer.
_MARKUP = re.compile(r"[*`\[\]<>\\&~|#]|:\S*?:|\s\s|^\s*([-+>]|\d+[.)])(\s|$)")
_WORD = re.compile(r"\s*\S+\s*")


class _Help(NamedTuple):
    """What the root help shows: the app's description, ``--version``'s help and each
    command's name and first paragraph, in the order typer lists them."""

    description: str
    version: str
    commands: tuple[tuple[str, str], ...]
    version_short: str = ""


# ---------------------------------------------------------------------------------------------
# The declarations, read from the source
# ---------------------------------------------------------------------------------------------
def _cleandoc(doc: str) -> str:
    """:func:`inspect.cleandoc` (without importing :mod:`inspect`)."""
    lines = doc.expandtabs().split("\n")
    margin = min((len(line) - len(line.lstrip()) for line in lines[1:] if line.lstrip()), default=0)
    lines = [lines[0].lstrip()] + [line[margin:] for line in lines[1:]]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def _first_paragraph(doc: str) -> str:
    """typer's short help of a command: the first paragraph, lines joined, stripped."""
    return _cleandoc(doc).split("\n\n")[0].replace("\n", " ").strip()


def _declarations() -> _Help | None:
    """The root help's texts from ``app.py`` and ``options.py`` (None: a form not known)."""
    here = Path(__file__).parent
    try:
        app = ast.parse((here / "app.py").read_text("utf-8"))
        opts = ast.parse(_statement((here / "options.py").read_text("utf-8"), "RootVersionOpt"))
    except (OSError, SyntaxError, ValueError):  # no source shipped (a zipped or compiled app)
        return None
    description = version = None
    commands: list[tuple[str, str]] = []
    for node in app.body:
        if isinstance(node, ast.Assign) and _is_typer_app(node):
            if not _known_app(node.value):
                return None
            description = _keyword(node.value, "help")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for dec in node.decorator_list:
                what = _app_decorator(dec)
                if what is None:
                    continue
                if what == "callback" and _is_root_callback(node):
                    continue
                if what != "command" or not isinstance(dec, ast.Call):
                    return None
                keywords = {k.arg for k in dec.keywords}
                if not keywords <= {"cls", "name"} or dec.args:
                    return None
                name = _keyword(dec, "name") if "name" in keywords else None
                doc = ast.get_docstring(node, clean=False)
                if doc is None:
                    return None
                commands.append((name or node.name.lower().replace("_", "-"), doc))
        elif _mentions_app(node):
            return None  # app.add_typer(...), app.command()(f): not read here
    short: str | None = None
    for node in opts.body:
        if isinstance(node, ast.Assign) and _names(node) == ["RootVersionOpt"]:
            version = _option_help(node.value)
            short = _version_short(node.value)
    if description is None or version is None or short is None or not commands:
        return None
    # typer shows the description's first paragraph as Markdown, line breaks kept
    first = _cleandoc(description).partition("\f")[0].split("\n\n")[0].strip()
    return _Help(
        first,
        version,
        tuple((name, _first_paragraph(doc)) for name, doc in commands),
        short,
    )


def _statement(source: str, name: str) -> str:
    """The top-level statement of ``source`` that assigns ``name`` (its lines up to the next
    one that starts a statement), so that only it is parsed."""
    found = re.search(rf"^{name} = .*?(?=^[A-Za-z_@#]|\Z)", source, re.MULTILINE | re.DOTALL)
    return found.group(0) if found else ""


def _names(node: ast.Assign) -> list[str]:
    return [t.id for t in node.targets if isinstance(t, ast.Name)]


def _is_typer_app(node: ast.Assign) -> bool:
    call = node.value
    return (
        _names(node) == ["app"]
        and isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "Typer"
    )


#: The ``typer.Typer(...)`` keywords read here, with the values this rendering assumes (None:
#: any value).
_APP_KEYWORDS: dict[str, object] = {
    "name": None,
    "help": None,
    "no_args_is_help": None,
    "add_completion": True,
    "pretty_exceptions_enable": None,
    "rich_markup_mode": "markdown",
    "context_settings": {"help_option_names": ["-h", "--help"]},
    "cls": _GROUP,
}


def _known_app(call: ast.expr) -> bool:
    """The app is made with the keywords (and values) of :data:`_APP_KEYWORDS` only."""
    if not isinstance(call, ast.Call) or call.args:
        return False
    for k in call.keywords:
        if k.arg not in _APP_KEYWORDS:
            return False
        want = _APP_KEYWORDS[k.arg]
        if k.arg == "cls":
            if ast.unparse(k.value) != want:
                return False
        elif want is not None:
            try:
                if ast.literal_eval(k.value) != want:
                    return False
            except ValueError:
                return False
    return True


def _keyword(call: ast.expr, name: str) -> str | None:
    if not isinstance(call, ast.Call):
        return None
    for k in call.keywords:
        if k.arg == name and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str):
            return k.value.value
    return None


def _app_decorator(dec: ast.expr) -> str | None:
    """``command``/``callback``/... for ``@app.<that>(...)``, else None."""
    if (
        isinstance(dec, ast.Call)
        and isinstance(dec.func, ast.Attribute)
        and isinstance(dec.func.value, ast.Name)
        and dec.func.value.id == "app"
    ):
        return dec.func.attr
    return "?" if _mentions_app(dec) else None


def _is_root_callback(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The root callback takes ``ctx`` and ``version`` only (its one option: ``--version``)."""
    return [a.arg for a in node.args.args + node.args.kwonlyargs] == ["ctx", "version"]


def _mentions_app(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "app" for n in ast.walk(node))


def _option_help(annotated: ast.expr) -> str | None:
    """``help=`` of the ``typer.Option(...)`` inside ``Annotated[bool, typer.Option(...)]``."""
    for n in ast.walk(annotated):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "Option"
        ):
            return _keyword(n, "help")
    return None


def _version_short(annotated: ast.expr) -> str | None:
    """The short name (``-V``, or ``""``) of ``--version``'s ``typer.Option("--version", ...)``;
    None for any other set of names."""
    for n in ast.walk(annotated):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "Option"
        ):
            names = [a.value for a in n.args if isinstance(a, ast.Constant)]
            if len(names) != len(n.args) or not names or names[0] != "--version":
                return None
            rest = names[1:]
            if not rest:
                return ""
            if len(rest) == 1 and re.fullmatch(r"-[A-Za-z]", str(rest[0])):
                return str(rest[0])
            return None
    return None


# ---------------------------------------------------------------------------------------------
# rich's layout rules, for plain text of single-cell characters
# ---------------------------------------------------------------------------------------------
def _wrap(text: str, width: int, *, fold: bool = True, ellipsis: bool = False) -> list[str]:
    """``text`` (one paragraph) word-wrapped to ``width`` and padded to it, as rich's
    ``Text.wrap`` with left justification does (``divide_line``, ``rstrip_end``,
    ``truncate``): words longer than a line are folded (``fold``) or cut with ``…``
    (``ellipsis``)."""
    breaks: list[int] = []
    offset = 0
    for m in _WORD.finditer(text):
        start, word = m.start(), m.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            if fold:
                pieces = [word[i : i + width] for i in range(0, len(word), width)] or [""]
                for i, piece in enumerate(pieces):
                    if start:
                        breaks.append(start)
                    if i == len(pieces) - 1:
                        offset = len(piece)
                    else:
                        start += len(piece)
            else:
                if start:
                    breaks.append(start)
                offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    cuts = [0, *breaks, len(text)]
    lines = []
    for a, b in itertools.pairwise(cuts):
        line = text[a:b]
        if len(line) > width:  # rstrip_end: trailing blanks beyond the width go
            blanks = len(line) - len(line.rstrip())
            line = line[: len(line) - min(blanks, len(line) - width)]
        if len(line) > width:
            line = line[: width - 1] + "…" if ellipsis else line[:width]
        lines.append(line.ljust(width))
    return lines


def _ratio_reduce(
    total: int, ratios: list[int], maximums: list[int], values: list[int]
) -> list[int]:
    """rich's ``_ratio.ratio_reduce``."""
    ratios = [r if m else 0 for r, m in zip(ratios, maximums, strict=True)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    remaining = total
    out = []
    for ratio, maximum, value in zip(ratios, maximums, values, strict=True):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _ratio_distribute(
    total: int, ratios: list[int], minimums: list[int] | None = None
) -> list[int]:
    """rich's ``_ratio.ratio_distribute``."""
    import math

    if minimums:
        ratios = [r if m else 0 for r, m in zip(ratios, minimums, strict=True)]
    total_ratio = sum(ratios)
    remaining = total
    out = []
    for ratio, minimum in zip(ratios, minimums or [0] * len(ratios), strict=True):
        if total_ratio > 0:
            share = max(minimum, math.ceil(ratio * remaining / total_ratio))
        else:
            share = remaining
        out.append(share)
        total_ratio -= ratio
        remaining -= share
    return out


def _collapse(widths: list[int], max_width: int) -> list[int]:
    """rich's ``Table._collapse_widths`` when every column may wrap."""
    total = sum(widths)
    excess = total - max_width
    while total and excess > 0:
        top = max(widths)
        second = max((w for w in widths if w != top), default=0)
        ratios = [1 if w == top else 0 for w in widths]
        difference = top - second
        if not difference:
            break
        widths = _ratio_reduce(excess, ratios, [min(excess, difference)] * len(widths), widths)
        total = sum(widths)
        excess = total - max_width
    return widths


class _Cell(NamedTuple):
    """A table cell: plain text, and whether it is a text cell (measured by its words) or
    typer's help cell (a Markdown in Columns, measured as wide as the table allows)."""

    text: str
    greedy: bool = False


def _table(rows: list[list[_Cell]], max_width: int, fixed: int | None = None) -> list[str] | None:
    """A rich ``Table`` as typer builds it (no box, padding (0, 1) but not at the edges,
    ``expand=True``): its lines, each ``max_width`` wide. ``fixed``: the first column has that
    width and does not wrap, the second has a ratio (typer's commands table)."""
    n = len(rows[0])
    pads = [(0 if i == 0 else 1, 0 if i == n - 1 else 1) for i in range(n)]
    pad_widths = [left + right for left, right in pads]
    if fixed is not None:  # commands: first column fixed, the other takes the rest
        first = min(fixed + pad_widths[0], max_width)
        rest = max_width - first
        if rest < 1 + pad_widths[1]:
            return None
        widths = [first, rest]
    else:
        maxima = []
        for i in range(n):
            if any(row[i].greedy for row in rows):
                maxima.append(max_width)
            else:
                longest = max(len(row[i].text) for row in rows)
                maxima.append(min(longest + pad_widths[i], max_width))
        widths = maxima
        if sum(widths) > max_width:
            widths = _collapse(widths, max_width)
            if sum(widths) > max_width:
                return None  # rich's last resort (reduce every column): not reproduced
        if sum(widths) < max_width:
            pad = _ratio_distribute(max_width - sum(widths), widths)
            widths = [w + p for w, p in zip(widths, pad, strict=True)]
    lines: list[str] = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            left, right = pads[i]
            inner = widths[i] - left - right
            if inner < 1 and cell.text:
                return None
            if inner < 1:
                body = [""]
            elif fixed is not None and i == 0:
                body = [cell.text[:inner].ljust(inner)]  # no_wrap, crop
            else:
                body = _wrap(cell.text, inner, fold=False, ellipsis=True)
            cells.append([" " * left + b + " " * right for b in body])
        height = max(len(c) for c in cells)
        for line_no in range(height):
            lines.append(
                "".join(
                    c[line_no] if line_no < len(c) else " " * widths[i] for i, c in enumerate(cells)
                )
            )
    return lines


def _panel(title: str, body: list[str], width: int) -> list[str]:
    """A rich ``Panel`` (rounded box, padding (0, 1), the title on the left of the top)."""
    label = f" {title} "[: width - 4]
    top = "╭─" + label + "─" * (width - 4 - len(label)) + "─╮"
    return [top, *("│ " + line + " │" for line in body), "╰" + "─" * (width - 2) + "╯"]


def render(help_: _Help, width: int, prog: str = "lungsegdb") -> str | None:
    """The root help at ``width`` columns as typer prints it without a terminal (None: a
    text or width this renderer does not reproduce)."""
    texts = [help_.description, help_.version, *(h for _, h in help_.commands)]
    texts += [h for _, _, h in _TYPER_OPTIONS]
    if any(_MARKUP.search(t) or not t.isascii() or not t.isprintable() for t in texts):
        return None
    if any(not _inert_underscores(t) for t in texts):
        return None
    inner = width - 2
    out = [" " * width]
    out += [" " + line + " " for line in _wrap(f"Usage: {prog} [OPTIONS] COMMAND [ARGS]...", inner)]
    out += [" " * width]
    out += [" " + line + " " for line in _wrap(help_.description, inner)]
    out += [" " * width]
    options = [("--version", help_.version_short, help_.version), *_TYPER_OPTIONS]
    rows = [
        [_Cell(long), _Cell(short), _Cell(""), _Cell(""), _Cell(_TYPE), _Cell(text, greedy=True)]
        for long, short, text in options
    ]
    table = _table(rows, width - 4)
    if table is None:
        return None
    out += _panel("Options", table, width)
    longest = max(len(name) for name, _ in help_.commands)
    commands = [[_Cell(name), _Cell(text, greedy=True)] for name, text in help_.commands]
    table = _table(commands, width - 4, fixed=longest)
    if table is None:
        return None
    out += _panel("Commands", table, width)
    return "".join(line + "\n" for line in out) + "\n"


def _inert_underscores(text: str) -> bool:
    """Every ``_`` sits between two letters or digits (Markdown cannot read it as emphasis)."""
    return all(
        0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        for i, c in enumerate(text)
        if c == "_"
    )


# ---------------------------------------------------------------------------------------------
# When the plain rendering is the one typer would print
# ---------------------------------------------------------------------------------------------
def _typer_version() -> str | None:
    """typer's ``__version__``, read from its ``__init__.py`` (typer is not imported)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("typer")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    try:
        with open(spec.origin, encoding="utf-8") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    found = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", head, re.MULTILINE)
    return found.group(1) if found else None


def width() -> int | None:
    """The width rich would give typer's console now (``TERMINAL_WIDTH``, else ``COLUMNS``,
    else the terminal's size on stdin, stdout or stderr, else 80), or None when rich would
    treat stdout as a terminal (then it adds styles) or anything else differs."""
    if sys.platform == "win32" or any(var in os.environ for var in _STYLE_ENV):
        return None
    stdout = sys.stdout
    try:
        if stdout is None or stdout.isatty():
            return None
    except ValueError:
        return None
    if not (getattr(stdout, "encoding", None) or "utf-8").lower().startswith("utf"):
        return None
    for var in ("TERMINAL_WIDTH", "COLUMNS"):
        value = os.environ.get(var)
        if value is not None:
            if not (value.isascii() and value.isdigit()):
                return None
            return int(value)
    for fd in (0, 1, 2):
        try:
            columns = os.get_terminal_size(fd).columns
        except (AttributeError, ValueError, OSError):
            continue
        return columns or 80
    return 80


def root_help() -> str | None:
    """``lungsegdb --help``'s output, exactly as the typer app would print it here and now,
    or None when only the typer app can say (see the module docstring).

    Examples
    --------
    >>> text = root_help()
    >>> text is None or text.splitlines()[1].strip().startswith("Usage: lungsegdb")
    True
    """
    columns = width()
    if columns is None or not MIN_WIDTH <= columns <= MAX_WIDTH:
        return None
    version = _typer_version()
    if version is None or not version.startswith(TYPER):
        return None
    help_ = _declarations()
    if help_ is None:
        return None
    return render(help_, columns)
