"""The fast path (cli/fast.py): ``--help``, ``download`` and ``verify`` without typer.

Each invocation runs twice, as the console script (the fast path) and through the typer app
(``cli.app.serve``), and must give the same bytes on stdout and stderr and the same exit
code; the ones it does not recognise must go to typer; the cheap ones must not import typer,
rich, pydantic, numpy or requests.
"""

from __future__ import annotations

# internals: the fast path (cli/fast) is compared with the typer app (cli/app) it stands in for
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lungsegdb_cli.cli import fast

TYPER_PATH = "import sys\nfrom lungsegdb_cli.cli.app import serve\nsys.exit(serve(sys.argv[1:]))"
#: What the cheap invocations must never load.
HEAVY = ("typer", "click", "rich", "pydantic", "numpy", "requests", "tifffile", "urllib3")
#: Nor the standard library's network stack: an intact tree needs no transfer machinery.
NETWORK = ("http", "email", "ssl", "socket", "html")
#: Timings that differ from run to run: compared as a placeholder.
_TIMES = re.compile(r'(in \d+\.\d s|"(elapsed|seconds)": [0-9.e-]+)')


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUNGSEGDB_")}
    env.pop("COLUMNS", None)
    return {**env, **extra}


def _python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def _run(argv: list[str], *, typer: bool, env: dict[str, str]) -> tuple[int, str, str]:
    head = ["-c", TYPER_PATH] if typer else ["-m", "lungsegdb_cli"]
    proc = _python([*head, *argv], env)
    return proc.returncode, _TIMES.sub("<t>", proc.stdout), _TIMES.sub("<t>", proc.stderr)


@pytest.fixture(scope="module")
def data(synth_result: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A data dir with the synth archive downloaded and extracted, one with a file of the
    tree deleted, and the archive's pin."""
    import lungsegdb_cli as L

    base = tmp_path_factory.mktemp("fast")
    good = base / "good"
    L.download(good, archive=synth_result.archive.path, sha256=synth_result.archive.sha256)
    broken = base / "broken"
    shutil.copytree(good, broken, symlinks=True)
    victim = next((broken / "LungSegDB").rglob("*.TIF"))
    victim.unlink()
    return {
        "good": str(good),
        "broken": str(broken),
        "missing": str(base / "nowhere"),
        "pin": str(synth_result.archive.sha256),
        "other": "0" * 64,
        "csv": str(base / "pairs.csv"),
    }


CASES: list[tuple[str, list[str], dict[str, str]]] = [
    ("bare", [], {}),
    ("help", ["--help"], {}),
    ("help-h", ["-h"], {}),
    ("help-wide", ["--help"], {"COLUMNS": "132"}),
    ("help-narrow", ["--help"], {"COLUMNS": "41"}),
    ("help-no-color", ["--help"], {"NO_COLOR": "1"}),
    ("bare-no-color-wide", [], {"NO_COLOR": "1", "COLUMNS": "100"}),
    ("verify-quick-no-color", ["verify", "--quick", "--data-dir", "{good}"], {"NO_COLOR": "1"}),
    # typer told to print click's plain help; a width int() refuses (rich failed on it)
    ("help-typer-plain", ["--help"], {"TYPER_USE_RICH": "0"}),
    ("help-columns-superscript", ["--help"], {"COLUMNS": "\u00b2"}),
    (
        "verify-broken-columns-superscript",
        ["verify", "--data-dir", "{broken}"],
        {"COLUMNS": "\u00b2"},
    ),
    ("download", ["download", "--data-dir", "{good}"], {}),
    ("download-json", ["download", "--json", "--data-dir={good}"], {}),
    ("download-quiet", ["download", "-q", "--data-dir", "{good}"], {}),
    ("download-pin", ["download", "--sha256", "{pin}", "--data-dir", "{good}"], {}),
    (
        "download-pin-env",
        ["download", "--json", "--data-dir", "{good}"],
        {"LUNGSEGDB_SHA256": "{pin}"},
    ),
    (
        "download-offline-other-pin",
        ["download", "--offline", "--sha256", "{other}", "--data-dir", "{good}"],
        {},
    ),
    ("download-bad-pin", ["download", "--sha256", "xyz", "--data-dir", "{good}"], {}),
    (
        "download-bad-pin-json",
        ["download", "--json", "--sha256", "xyz", "--data-dir", "{good}"],
        {},
    ),
    ("download-require-pin", ["download", "--data-dir", "{good}"], {"LUNGSEGDB_REQUIRE_PIN": "1"}),
    (
        "download-no-keep-no-extract",
        ["download", "--no-keep-archive", "--no-extract", "--data-dir", "{good}"],
        {},
    ),
    (
        "download-retries-timeout",
        ["download", "--retries", "2", "--timeout=7.5", "--data-dir", "{good}"],
        {},
    ),
    (
        "download-retries-env",
        ["download", "--json", "--data-dir", "{good}"],
        {"LUNGSEGDB_RETRIES": "3", "LUNGSEGDB_TIMEOUT": "30"},
    ),
    ("download-retries-out-of-range", ["download", "--retries", "101", "--data-dir", "{good}"], {}),
    (
        "download-bad-storage-option",
        ["download", "--storage-option", "nokey", "--data-dir", "{good}"],
        {},
    ),
    ("verify-quick", ["verify", "--quick", "--data-dir", "{good}"], {}),
    ("verify-quick-json", ["verify", "--quick", "--json", "--data-dir", "{good}"], {}),
    ("verify", ["verify", "--data-dir", "{good}"], {}),
    ("verify-pin", ["verify", "--quick", "--data-dir", "{good}"], {"LUNGSEGDB_SHA256": "{pin}"}),
    ("verify-other-pin", ["verify", "--quick", "--sha256", "{other}", "--data-dir", "{good}"], {}),
    ("verify-broken", ["verify", "--quick", "--data-dir", "{broken}"], {}),
    ("verify-broken-json", ["verify", "--quick", "--json", "--data-dir", "{broken}"], {}),
    ("verify-nothing", ["verify", "--quick", "--data-dir", "{missing}"], {}),
    ("verify-nothing-json", ["verify", "--json", "--data-dir", "{missing}"], {}),
    ("stats", ["stats", "--data-dir", "{good}"], {}),
    ("stats-json", ["stats", "--json", "--no-cache", "--data-dir", "{good}"], {}),
    ("stats-filters", ["stats", "--variant", "raw", "--version=V2", "--data-dir", "{good}"], {}),
    ("stats-bad-variant", ["stats", "--variant", "cooked", "--data-dir", "{good}"], {}),
    ("stats-csv", ["stats", "-q", "--csv", "{csv}", "--data-dir", "{good}"], {}),
    ("stats-broken", ["stats", "--data-dir", "{broken}"], {}),
    ("stats-nothing", ["stats", "--json", "--data-dir", "{missing}"], {}),
    # a blank --data-dir (an unset variable with a space): exit 2, not a folder named " "
    ("verify-blank-data-dir", ["verify", "--quick", "--data-dir", " "], {}),
    ("stats-blank-data-dir-json", ["stats", "--json", "--data-dir= "], {}),
    ("download-blank-data-dir", ["download", "--offline", "--data-dir", "\t"], {}),
]


@pytest.mark.parametrize(("argv", "env"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_fast_path_prints_what_the_typer_app_prints(
    data: dict[str, str], argv: list[str], env: dict[str, str]
) -> None:
    args = [a.format(**data) for a in argv]
    assert fast.recognise(args) is not None or not args or args[0] in ("--help", "-h"), args
    environ = _env(**{k: v.format(**data) for k, v in env.items()})
    quick = _run(args, typer=False, env=environ)
    slow = _run(args, typer=True, env=environ)
    assert quick == slow
    assert "Traceback" not in quick[2]


#: Invocations the fast path leaves to typer: the console script must still print typer's
#: usage errors (exit 2) and every command's help.
LEFT_TO_TYPER: list[list[str]] = [
    ["download", "--quik"],
    ["download", "--retries", "x"],
    ["download", "--retries=", "--data-dir", "{good}"],
    ["verify", "--quick=1"],
    ["verify", "--quick", "extra"],
    ["stats", "--variant"],
    ["--bogus"],
    ["nosuchcommand"],
]


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=[" ".join(a) for a in LEFT_TO_TYPER])
def test_usage_errors_are_typers_through_the_console_script(
    data: dict[str, str], argv: list[str]
) -> None:
    args = [a.format(**data) for a in argv]
    assert fast.recognise(args) is None
    quick = _run(args, typer=False, env=_env())
    assert quick == _run(args, typer=True, env=_env())
    assert quick[0] == 2 and "Traceback" not in quick[2]


def _commands() -> list[str]:
    import typer

    from lungsegdb_cli.cli.app import app

    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_every_commands_help_is_typers_through_the_console_script() -> None:
    """A command's ``--help`` is never the fast path's: the console script prints typer's, in
    a plain pipe and with ``NO_COLOR`` (one process per path serves every command)."""
    loop = (
        "import contextlib, io, sys\n"
        "{setup}\n"
        "for name in sys.argv[1:]:\n"
        "    buf = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        code = {call}\n"
        "    print(name, code, buf.getvalue())\n"
    )
    typer_loop = loop.format(
        setup="from lungsegdb_cli.cli.app import run", call="run([name, '--help'])"
    )
    fast_loop = loop.format(
        setup="from lungsegdb_cli.cli import fast\nfrom lungsegdb_cli.cli.app import run",
        call="(fast.run([name, '--help']) if fast.recognise([name, '--help']) "
        "else run([name, '--help']))",
    )
    names = _commands()
    assert {"download", "verify", "stats", "export"} <= set(names)
    for extra in ({}, {"NO_COLOR": "1"}):
        outs = [
            subprocess.run(
                [sys.executable, "-c", code, *names],
                capture_output=True,
                text=True,
                env=_env(**extra),
                stdin=subprocess.DEVNULL,
                timeout=120,
                check=True,
            ).stdout
            for code in (typer_loop, fast_loop)
        ]
        assert outs[0] == outs[1]
        assert outs[0].count("Usage: lungsegdb") == len(names)


def test_debug_gives_the_same_traceback_ending_and_message(data: dict[str, str]) -> None:
    args = ["verify", "--quick", "--debug", "--data-dir", data["missing"]]
    quick = _run(args, typer=False, env=_env())
    slow = _run(args, typer=True, env=_env())
    assert quick[0] == slow[0] == 2  # the data dir does not exist
    assert "Traceback" in quick[2] and "Traceback" in slow[2]
    assert quick[2].splitlines()[-3:] == slow[2].splitlines()[-3:]


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "--bogus"],
        ["info", "--json"],
        ["--version"],
        ["--help", "--json"],
        ["verify", "--help"],
        ["verify", "-h"],
        ["verify", "--quick=1"],
        ["verify", "--quick", "extra"],
        ["verify", "--", "--quick"],
        ["verify", "--bogus"],
        ["verify", "--data-dir"],
        ["verify", "--data-dir", ""],
        ["verify", "--data-dir="],
        ["verify", "--data-dir", "-q"],
        ["verify", "-qq"],
        ["download", "--quik"],
        ["download", "--retries", "x"],
        ["download", "--retries", " 3"],
        ["download", "--timeout", "1e3"],
        ["verify-export", "out"],
    ],
)
def test_anything_else_is_left_to_the_typer_app(argv: list[str]) -> None:
    assert fast.recognise(argv) is None


@pytest.mark.parametrize("argv", [[], ["--help"], ["verify", "--quick"], ["download"]])
def test_shell_completion_is_left_to_typer(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """A completion script runs bare ``lungsegdb`` with ``_LUNGSEGDB_COMPLETE`` set: click
    answers it, not the root help (nor a command the words happen to spell)."""
    monkeypatch.setenv("_LUNGSEGDB_COMPLETE", "complete_bash")
    assert fast.recognise(argv) is None


def test_completion_through_the_console_script_is_typers() -> None:
    env = _env(
        _LUNGSEGDB_COMPLETE="complete_bash", COMP_WORDS="lungsegdb verify --quic", COMP_CWORD="2"
    )
    quick = _run([], typer=False, env=env)
    assert quick == _run([], typer=True, env=env)
    assert quick[0] == 0 and quick[1].split() == ["--quick"]


def test_options_and_environment_are_read_as_typer_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("LUNGSEGDB_URLS", "LUNGSEGDB_URL", "LUNGSEGDB_SHA256", "LUNGSEGDB_COOKIES"):
        monkeypatch.delenv(var, raising=False)
    got = fast.parse(["--url", "a", "--url=b", "--quiet", "--sha256", "x"], fast.DOWNLOAD)
    assert got is not None
    assert (got["url"], got["quiet"], got["sha256"], got["force"]) == (["a", "b"], True, "x", False)
    assert got["data_dir"] is None and got["storage_option"] is None
    monkeypatch.setenv("LUNGSEGDB_URLS", "")  # empty counts as unset: the next variable
    monkeypatch.setenv("LUNGSEGDB_URL", " m1  m2 ")
    monkeypatch.setenv("LUNGSEGDB_SHA256", "from-env")
    got = fast.parse([], fast.DOWNLOAD)
    assert got is not None and (got["url"], got["sha256"]) == (["m1", "m2"], "from-env")
    got = fast.parse(["--url", "cli", "--sha256", "cli-pin"], fast.DOWNLOAD)
    assert got is not None and (got["url"], got["sha256"]) == (["cli"], "cli-pin")
    monkeypatch.setenv("LUNGSEGDB_URLS", "u1")
    got = fast.parse([], fast.DOWNLOAD)
    assert got is not None and got["url"] == ["u1"]


def _typer_options(name: str) -> dict[str, dict[str, Any]]:
    """The options typer declares for command ``name``: dest -> what the fast path keeps."""
    import typer

    from lungsegdb_cli.cli.app import app

    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    out = {}
    for p in command.params:
        env = p.envvar if isinstance(p.envvar, (list, tuple)) else [p.envvar] if p.envvar else []
        takes = "flag" if p.is_flag else "list" if p.multiple else "value"
        names = tuple(sorted([*p.opts, *p.secondary_opts]))
        out[p.name] = {"names": names, "takes": takes, "envvar": tuple(env)}
    return out


@pytest.mark.parametrize(
    ("name", "spec"),
    [("download", fast.DOWNLOAD), ("verify", fast.VERIFY), ("stats", fast.STATS)],
)
def test_the_fast_path_knows_the_options_as_typer_declares_them(
    name: str, spec: tuple[fast.Opt, ...]
) -> None:
    """Every option the fast path reads is spelt, typed and fed from the environment exactly
    as typer declares it; and every environment variable typer reads for the command is read
    here too (an option the fast path does not know falls back to typer, an environment
    variable it does not know would be silently ignored)."""
    declared = _typer_options(name)
    for opt in spec:
        assert opt.dest in declared, f"{name}: typer has no {opt.dest}"
        want = declared[opt.dest]
        assert (tuple(sorted(opt.names)), opt.takes, opt.envvar) == (
            want["names"],
            want["takes"],
            want["envvar"],
        ), opt.dest
    known = {opt.dest for opt in spec}
    unread = {d: o["envvar"] for d, o in declared.items() if o["envvar"] and d not in known}
    assert not unread, f"{name}: add these options to cli/fast.py: {unread}"


def _imported(argv: list[str], env: dict[str, str]) -> set[str]:
    proc = _python(["-X", "importtime", "-m", "lungsegdb_cli", *argv], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["verify", "--quick", "--data-dir", "{good}"],
        ["verify", "--quick", "--json", "--data-dir", "{good}"],
        ["download", "--data-dir", "{good}"],
        ["download", "--json", "--sha256", "{pin}", "--data-dir", "{good}"],
    ],
    ids=["help", "verify-quick", "verify-quick-json", "download", "download-pinned-json"],
)
def test_the_cheap_paths_import_nothing_heavy(data: dict[str, str], argv: list[str]) -> None:
    names = _imported([a.format(**data) for a in argv], _env())
    assert "lungsegdb_cli" in names
    assert not names & set(HEAVY), sorted(names & set(HEAVY))
    assert not names & set(NETWORK), sorted(names & set(NETWORK))


def test_help_loads_no_command_module(data: dict[str, str]) -> None:
    """``--help`` reads the declarations, it imports no command (sources, checks, ...)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lungsegdb_cli", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        stdin=subprocess.DEVNULL,
        check=True,
    )
    ours = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "lungsegdb_cli." in line
    }
    assert not {
        m
        for m in ours
        if m.startswith(
            (
                "lungsegdb_cli.sources",
                "lungsegdb_cli.checks",
                "lungsegdb_cli.archive",
                "lungsegdb_cli.cli.app",
            )
        )
    }


def test_ctrl_c_before_a_fast_command_runs_is_exit_130(data: dict[str, str]) -> None:
    """The entry point's "run" instant (the command chosen, not started) on the fast path."""
    args = ["verify", "--quick", "--data-dir", data["good"]]
    for json_out in (False, True):
        code, out, err = _run(
            [*args, *(["--json"] if json_out else [])],
            typer=False,
            env=_env(LUNGSEGDB_SIGINT_AT="run"),
        )
        assert code == 130 and "Traceback" not in err
        assert ('"interrupted"' in out) if json_out else err.startswith("error: Interrupted")


def test_a_path_rich_would_read_as_an_emoji_is_printed_by_rich(
    data: dict[str, str], tmp_path: Path
) -> None:
    """``:smile:`` in a path: rich's console makes it an emoji; the fast path hands such lines
    to rich, so both print the same."""
    weird = tmp_path / ":smile:"
    shutil.copytree(data["good"], weird, symlinks=True)
    args = ["download", "--data-dir", str(weird)]
    assert _run(args, typer=False, env=_env()) == _run(args, typer=True, env=_env())


def test_every_path_option_leaves_permissions_to_the_operation() -> None:
    """click's ``readable`` check made an unreadable ``--archive`` exit 2 through typer but 5
    (a local failure, as documented) on the fast path, and refused an existing write-only
    ``--csv`` that the fast path wrote. No path option or argument checks it."""
    import typing
    from pathlib import Path as P

    # internals: the declarations typer reads (cli/options), each Annotated[Path..., Info]
    from lungsegdb_cli.cli import options

    paths = {}
    for name, value in vars(options).items():
        args = typing.get_args(value) if typing.get_origin(value) is typing.Annotated else ()
        if args and P in (typing.get_args(args[0]) or (args[0],)):
            paths[name] = args[1]
    assert len(paths) >= 10  # --archive, --csv, --plot, --cookies, --out, OUT, ...
    checked = [n for n, info in paths.items() if info.readable and info.parser is None]
    assert checked == []


def _stdout_run(args: list[str], *, typer: bool, stdout: str) -> tuple[int, str]:
    """``args`` with stdout closed (``>&-``) or on ``/dev/full``; Python's own buffering, as
    in a shell (no ``PYTHONUNBUFFERED``)."""
    env = _env()
    env.pop("PYTHONUNBUFFERED", None)
    head = ["-c", TYPER_PATH] if typer else ["-m", "lungsegdb_cli"]
    with open(os.devnull if stdout == "closed" else "/dev/full", "w") as sink:
        proc = subprocess.run(
            [sys.executable, *head, *args],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
            preexec_fn=(lambda: os.close(1)) if stdout == "closed" else None,
        )
    return proc.returncode, proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("typer", [False, True], ids=["fast", "typer"])
@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--json"],
        ["stats", "-q"],
        ["stats", "--json"],
        ["download", "-q"],
        ["verify"],
        ["info"],
        ["pairs", "--json"],
    ],
    ids=" ".join,
)
def test_a_stdout_closed_or_full_is_141_or_5_never_a_traceback(
    data: dict[str, str], argv: list[str], typer: bool
) -> None:
    args = [*argv, "--data-dir", data["good"]]
    code, err = _stdout_run(args, typer=typer, stdout="closed")
    assert (code, "Traceback" in err) == (141, False), err
    code, err = _stdout_run(args, typer=typer, stdout="full")
    assert (code, "Traceback" in err, "Exception ignored" in err) == (5, False, False), err
    # the redirection is named, not the data dir
    assert "Could not write the result to standard output: Disk full" in err, err
    assert "redirect it elsewhere" in err and "--data-dir" not in err, err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("typer", [False, True], ids=["fast", "typer"])
@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["--version"], ["verify", "--help"]],
    ids=lambda a: " ".join(a) or "bare",
)
def test_help_and_version_into_a_full_or_closed_stdout(argv: list[str], typer: bool) -> None:
    """Audit H3: the texts that are all a run prints -- the help, the version -- gave a
    traceback and exit 1 on a full stdout, 0 with none, and the data dir's hint."""
    code, err = _stdout_run(argv, typer=typer, stdout="closed")
    assert (code, "Traceback" in err) == (141, False), err
    code, err = _stdout_run(argv, typer=typer, stdout="full")
    assert (code, "Traceback" in err) == (5, False), err
    assert "standard output" in err and "--data-dir" not in err, err


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["verify", "--help"]], ids=" ".join)
def test_help_and_version_to_a_reader_that_left_is_141(argv: list[str], tmp_path: Path) -> None:
    """A FIFO whose reader opened it and left: click's own answer was exit 1 ("check
    failed"); it is the quiet 141, as for a result."""
    import threading

    fifo = tmp_path / "out"
    os.mkfifo(fifo)

    def leave() -> None:
        with open(fifo, "rb"):
            pass

    reader = threading.Thread(target=leave)
    reader.start()
    with open(fifo, "wb") as sink:  # opens once the reader has; it may be gone already
        reader.join()
        proc = subprocess.run(
            [sys.executable, "-m", "lungsegdb_cli", *argv],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
    assert (proc.returncode, proc.stderr) == (141, ""), proc.stderr
