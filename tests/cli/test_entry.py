"""Ctrl-C at any instant of the ``lungsegdb`` process: exit 130 and the two-line message (or
the ``--json`` error document), never a traceback; or 0 if the command finished first.

Real processes and real SIGINTs: at named start-up points (``LUNGSEGDB_SIGINT_AT``), and from
outside at a fixed series of delays after the entry point starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROOT = Path(__file__).resolve().parents[2]


def _default_sigint() -> None:
    """In the child before exec: SIGINT as a terminal leaves it, even if this test run
    inherited it ignored (a background job of a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUNGSEGDB_")}
    return {**env, **extra}


def _script_target() -> tuple[str, str]:
    """``(module, function)`` of the ``lungsegdb`` console script in pyproject.toml."""
    scripts = (ROOT / "pyproject.toml").read_text().split("[project.scripts]", 1)[1]
    found = re.search(r'^lungsegdb\s*=\s*"([\w.]+):(\w+)"', scripts, re.MULTILINE)
    assert found, "no lungsegdb console script in pyproject.toml"
    return found.group(1), found.group(2)


def _console_script() -> list[str]:
    """The console script run the way the generated script runs it (import, call)."""
    module, func = _script_target()
    code = f"import sys\nfrom {module} import {func}\nsys.exit({func}())"
    return [sys.executable, "-c", code]


ENTRIES = {
    "console-script": _console_script,
    "python-m": lambda: [sys.executable, "-m", "lungsegdb_cli"],
}


def _assert_interrupted(proc: subprocess.CompletedProcess[str], json_out: bool) -> None:
    assert proc.returncode == 130, proc
    assert "Traceback" not in proc.stderr
    if json_out:
        doc = json.loads(proc.stdout)
        assert doc["ok"] is False
        assert doc["error"]["code"] == 130 and doc["error"]["kind"] == "interrupted"
    else:
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert lines[-2].startswith("error: Interrupted"), proc.stderr
        assert lines[-1].strip().startswith("next: ")


@pytest.mark.parametrize("entry", sorted(ENTRIES))
@pytest.mark.parametrize("point", ["start", "run", "result", "exit"])
@pytest.mark.parametrize("json_out", [False, True], ids=["human", "json"])
def test_sigint_at_each_point_of_the_process(
    tmp_path: Path, entry: str, point: str, json_out: bool
) -> None:
    argv = [*ENTRIES[entry](), "info", "--data-dir", str(tmp_path)]
    proc = subprocess.run(
        argv + (["--json"] if json_out else []),
        capture_output=True,
        text=True,
        env=_env(LUNGSEGDB_SIGINT_AT=point),
        preexec_fn=_default_sigint,
        timeout=60,
        check=False,
    )
    if point in ("result", "exit"):  # the result was out: it and its exit code stand
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc
        assert "Interrupted" not in proc.stderr
        if json_out:
            assert json.loads(proc.stdout)["ok"] is True  # one document
        return
    _assert_interrupted(proc, json_out)


def _wait_ready(read_fd: int, child: subprocess.Popen[str]) -> None:
    """Until the child's entry point says its handler is installed (or the child ended)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([read_fd], [], [], 0.05)[0]:
            assert os.read(read_fd, 1) == b"r"
            return
        assert child.poll() is None, "the entry point never said it was ready"
    raise AssertionError("no ready byte within 60 s")


@pytest.mark.parametrize("delay_ms", [0, 1, 3, 10, 30, 60, 100, 200, 400, 800])
def test_sigint_from_outside_at_any_delay(tmp_path: Path, delay_ms: int) -> None:
    """Whatever the process is doing when SIGINT arrives (importing the CLI, parsing options,
    running the command, printing, exiting), it exits 130 with the message, or 0 having
    finished first; never a traceback. The delays count from the moment the console script's
    entry point has its handler installed (before that, Python's own start-up: not ours)."""
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen(
            [*_console_script(), "info", "--data-dir", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(LUNGSEGDB_READY_FD=str(write_fd)),
            pass_fds=(write_fd,),
            preexec_fn=_default_sigint,
        )
        os.close(write_fd)
        _wait_ready(read_fd, child)
    finally:
        os.close(read_fd)
    time.sleep(delay_ms / 1000)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert child.returncode in (0, 130), (child.returncode, err)
    if child.returncode == 130:
        assert "error: Interrupted" in err
    else:
        assert "LungSegDB" in out


#: A SIGINT handled where Python would not let the exception out as itself.
_SWALLOWED = {
    # a finaliser: "Exception ignored in ..." and a traceback, then on as if nothing came
    "__del__": """
class Bomb:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)

Bomb()
""",
    # Python 3.11 wraps what a descriptor's __set_name__ raises in a RuntimeError
    "__set_name__": """
class Bomb:
    def __set_name__(self, owner, name):
        signal.raise_signal(signal.SIGINT)

class Holder:
    field = Bomb()
""",
}


@pytest.mark.parametrize("where", sorted(_SWALLOWED))
def test_a_ctrl_c_that_lands_where_python_swallows_it_is_raised_after(where: str) -> None:
    """A SIGINT handled inside a ``__del__`` (or importlib's module-lock weakref callback,
    which runs all through start-up) or a dataclass field's ``__set_name__`` would come out
    as a printed "Exception ignored" or a ``RuntimeError``; it is raised once that is done."""
    # internals: the handler is entry's own; the console script cannot place a SIGINT there
    # on purpose
    code = (
        "import signal, time\n"
        "from lungsegdb_cli.cli import entry\n"
        "entry._install()\n"
        "try:\n"
        + "".join(f"    {line}\n" for line in _SWALLOWED[where].strip().splitlines())
        + "    deadline = time.monotonic() + 10\n"
        "    while time.monotonic() < deadline:\n"
        "        time.sleep(0.001)\n"
        "    print('not interrupted')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.stdout.strip() == "interrupted"


@pytest.fixture(scope="module")
def busy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree whose decode and export start two worker processes (int16 HU slices)."""
    import lungsegdb_cli as L

    made = L.synth(tmp_path_factory.mktemp("busy") / "s", pairs=8, like_kaggle=True, fmt="none")
    return Path(made.tree)


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
@pytest.mark.parametrize("command", ["stats", "export"])
@pytest.mark.parametrize("delay_us", [0, 300, 1000, 2500])
def test_ctrl_c_to_the_group_as_workers_start_never_hangs_nor_traces(
    busy_root: Path, tmp_path: Path, command: str, delay_us: int
) -> None:
    """A terminal's Ctrl-C reaches the whole process group: sent the moment the first worker
    process appears, the command exits 130 (or 0, done first) with the two-line message --
    it used to hang for good (a worker left waiting, joined at exit) or end in exit 1 with a
    BrokenProcessPool traceback (a worker running the parent's handler)."""
    argv = (
        ["stats", "--no-cache", "--data-dir", str(busy_root)]
        if command == "stats"
        else ["export", "nnunet", str(tmp_path / "out"), "--data-dir", str(busy_root)]
    )
    child = subprocess.Popen(
        [*_console_script(), *argv, "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(LUNGSEGDB_WORKERS="2"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _children(child.pid) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0002)
    time.sleep(delay_us / 1e6)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGINT)
    try:
        _, err = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # the hang: end it, then fail
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise AssertionError(f"{command} hung after Ctrl-C at {delay_us} us") from None
    assert child.returncode in (0, 130), (child.returncode, err)
    assert "Traceback" not in err and "BrokenProcessPool" not in err, err


@pytest.fixture(scope="module")
def many_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree whose ``pairs --json`` document is well over a pipe's 64 KiB."""
    import numpy as np
    import tifffile

    tree = tmp_path_factory.mktemp("many") / "LungSegDB"
    for variant in ("raw data", "preprocessed data"):
        for kind in ("CT_Images", "CT_Masks"):
            folder = tree / variant / "V1" / kind
            folder.mkdir(parents=True)
            for i in range(250):
                tifffile.imwrite(
                    folder / f"{i}.TIF",
                    np.full((4, 4), -1000 + i, np.int16)
                    if kind == "CT_Images"
                    else np.full((4, 4), 255, np.uint8),
                )
    return tree


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
@pytest.mark.parametrize("attempt", range(4))
def test_ctrl_c_while_the_result_fills_a_pipe_leaves_it_whole(
    many_pairs: Path, attempt: int
) -> None:
    """The reader of stdout is slow (a full pipe: the write blocks); a Ctrl-C then used to
    cut the document at 64 KiB with exit 0 (CPython's text stream dropped the rest of a
    write the signal had interrupted). Now the result is written whole, exit 0."""
    import fcntl
    import termios

    child = subprocess.Popen(
        [*_console_script(), "pairs", "--data-dir", str(many_pairs), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        preexec_fn=_default_sigint,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    waiting = bytearray(4)
    while time.monotonic() < deadline and child.poll() is None:
        fcntl.ioctl(child.stdout.fileno(), termios.FIONREAD, waiting)
        if int.from_bytes(waiting, sys.byteorder) >= 65536:  # full: the writer is blocked
            break
        time.sleep(0.01)
    time.sleep(0.05 * attempt)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True and len(doc["pairs"]) == 500


@pytest.mark.parametrize("attempt", range(3))
def test_a_reader_that_stops_early_ends_the_run_quietly_with_141(
    many_pairs: Path, attempt: int
) -> None:
    """``lungsegdb pairs | head -c 10``: the rest of the result has nowhere to go. Exit 141
    with nothing on stderr, as a Unix tool ended by SIGPIPE -- not exit 1 (click's and rich's
    way, which says "check failed"), nor 0 with the result cut short."""
    # the document (137 KB) is larger than the pipe (64 KiB): the writer must still be
    # writing when the reader goes away
    child = subprocess.Popen(
        [*_console_script(), "pairs", "--data-dir", str(many_pairs), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        preexec_fn=_default_sigint,
    )
    assert child.stdout is not None and child.stderr is not None
    assert len(child.stdout.read(10)) == 10
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141, err
    assert err == ""


#: A Ctrl-C at the worst instant of a pool's start: right after a worker was forked, before
#: the executor has recorded it (multiprocessing's own start, wrapped in the child process).
_CTRL_C_AS_A_WORKER_STARTS = """
import multiprocessing.process as mpp, sys
real_start = mpp.BaseProcess.start
def start(self):
    real_start(self)
    if not getattr(start, "done", False):
        start.done = True
        raise KeyboardInterrupt
mpp.BaseProcess.start = start
from lungsegdb_cli.cli.entry import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("command", ["stats", "validate", "synth"])
def test_ctrl_c_between_a_workers_fork_and_its_record_never_hangs(
    busy_root: Path, tmp_path: Path, command: str
) -> None:
    """The worker forked but not yet recorded by the executor used to be left waiting for
    work, and Python's exit waited for it for ever (SIGINT then ignored): now the pool ends
    it, and the run exits 130 with the message."""
    argv = (
        [command, "--no-cache", "--data-dir", str(busy_root)]
        if command != "synth"
        else ["synth", str(tmp_path / "s"), "--pairs", "12", "--format", "none"]
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CTRL_C_AS_A_WORKER_STARTS, *argv, "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(LUNGSEGDB_WORKERS="2"),
            preexec_fn=_default_sigint,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{command} hung after a Ctrl-C as a worker started") from None
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "error: Interrupted" in done.stderr


def test_a_sigint_while_the_signals_module_is_still_importing_is_no_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CI caught it once in 3,000 runs of the delay test: the SIGINT came while
    ``lungsegdb_cli.utils.signals`` was being imported -- in ``sys.modules``, its code not run
    yet -- and the handler's look at ``held`` raised AttributeError. Such a module holds
    nothing: the Ctrl-C is raised as usual."""
    import types

    from lungsegdb_cli.cli import entry

    monkeypatch.setitem(sys.modules, "lungsegdb_cli.utils.signals", types.ModuleType("half"))
    assert entry._held() is False
