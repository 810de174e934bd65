"""The one default worker count: CPUs of this process (capped), or ``LUNGSEGDB_WORKERS`` (at
most 4 per CPU, with a warning); and workers that never outlive a killed command."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import decodepass
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.utils import hashing
from lungsegdb_cli.utils import workers as _workers
from lungsegdb_cli.utils.progress import NullProgress


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


@pytest.mark.parametrize(
    ("env", "cap", "expected"),
    [
        ({}, None, "cpus"),
        ({}, 1, 1),
        ({}, 10_000, "cpus"),
        ({"LUNGSEGDB_WORKERS": ""}, None, "cpus"),
        ({"LUNGSEGDB_WORKERS": "  "}, 1, 1),
        ({"LUNGSEGDB_WORKERS": "3"}, None, 3),
        ({"LUNGSEGDB_WORKERS": "3"}, 1, 3),  # an explicit number is not capped by `cap`
        ({"LUNGSEGDB_WORKERS": " 2 "}, None, 2),
    ],
)
def test_default_workers(env: dict[str, str], cap: int | None, expected: int | str) -> None:
    want = _cpus() if expected == "cpus" else expected
    assert _workers.default_workers(cap, env) == want


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "abc", "nan", "inf"])
def test_a_bad_workers_variable_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="LUNGSEGDB_WORKERS"):
        _workers.default_workers(None, {"LUNGSEGDB_WORKERS": value})


@pytest.mark.parametrize(
    ("default", "cap"),
    [(hashing.default_workers, None),
     (decodepass.default_workers, 8)],
)  # fmt: skip
def test_every_pool_uses_the_one_default(
    monkeypatch: pytest.MonkeyPatch, default: Callable[[], int], cap: int | None
) -> None:
    monkeypatch.delenv("LUNGSEGDB_WORKERS", raising=False)
    assert default() == _workers.default_workers(cap)
    monkeypatch.setenv("LUNGSEGDB_WORKERS", "5")
    assert default() == 5


# ---------------------------------------------------------------------------------------------
# LUNGSEGDB_WORKERS is capped at 4 per CPU (4,096 workers took 24 GB and the OOM killer)
# ---------------------------------------------------------------------------------------------
class Notes(NullProgress):
    """A progress renderer that keeps its notes (the warning channel)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, message: str) -> None:
        self.lines.append(message)


def test_workers_over_four_per_cpu_are_capped_with_a_warning() -> None:
    env = {"LUNGSEGDB_WORKERS": "4096"}
    assert _workers.default_workers(None, env) == 4 * _cpus()
    notes = Notes()
    assert _workers.default_workers(8, env, progress=notes) == 4 * _cpus()
    assert len(notes.lines) == 1
    assert "LUNGSEGDB_WORKERS=4,096" in notes.lines[0] and f"using {4 * _cpus()}" in notes.lines[0]
    # at the cap: as asked, no warning
    at_cap = {"LUNGSEGDB_WORKERS": str(4 * _cpus())}
    assert _workers.default_workers(None, at_cap, progress=notes) == 4 * _cpus()
    assert len(notes.lines) == 1


def test_stats_warns_on_stderr_about_too_many_workers(
    synth_tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LUNGSEGDB_WORKERS", str(4 * _cpus() + 1))
    assert run(["stats", "--data-dir", str(synth_tree), "--no-cache", "--json"]) == 0
    err = capsys.readouterr().err
    assert f"warning: LUNGSEGDB_WORKERS={4 * _cpus() + 1}" in err and "per CPU" in err


# ---------------------------------------------------------------------------------------------
# Workers die with their parent: SIGKILL of stats/validate/synth leaves no process behind
# ---------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, ppid, start time)`` of ``pid`` from /proc, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)", which may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(pid: int) -> set[tuple[int, int]]:
    """``(pid, start time)`` of the live children of ``pid``, their children, and so on."""
    parent_of: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None and st[0] != "Z":
                parent_of[int(name)] = (st[1], st[2])
    out: set[tuple[int, int]] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for child, (ppid, start) in parent_of.items():
            if ppid == p:
                out.add((child, start))
                todo.append(child)
    return out


def _alive(procs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those of ``procs`` still running (a zombie has exited; a reused PID is another)."""
    alive = set()
    for pid, start in procs:
        st = _stat(pid)
        if st is not None and st[2] == start and st[0] != "Z":
            alive.add((pid, start))
    return alive


@pytest.fixture(scope="module")
def busy_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root whose decode keeps two workers busy for a while (320 files, ~115 MB)."""
    from lungsegdb_cli.synthetic import make as synth

    out = tmp_path_factory.mktemp("busy")
    synth.synthesize(out, pairs=40, seed=0, fmt="none")
    return out


#: How the command is started. ``pdeathsig``: as users do. The others run ``python -c`` with
#: the fallback forced in the parent (forked workers inherit it): ``pidfd`` without the
#: kernel's parent-death signal, ``polling`` without pidfds either.
_MAIN = "from lungsegdb_cli.cli.entry import main; main(sys.argv[1:])"
_OFF = "from lungsegdb_cli.utils import procpool as _procpool; _procpool.USE_PDEATHSIG = False; "
STARTS = {
    "pdeathsig": ["-m", "lungsegdb_cli"],
    "pidfd": ["-c", "import sys; " + _OFF + _MAIN],
    "polling": ["-c", "import os, sys; del os.pidfd_open; " + _OFF + _MAIN],
}
#: Processes a busy run has below it: its 2 workers (decode, or synth's renderers: both forked).
BUSY = {"stats": 2, "validate": 2, "synth": 2}


@pytest.fixture
def reaper() -> Iterator[set[tuple[int, int]]]:
    """Processes seen by a test: any still alive at its end are killed (a failing test leaves
    nothing behind)."""
    seen: set[tuple[int, int]] = set()
    yield seen
    for pid, _ in _alive(seen):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def child_tmpdir() -> Iterator[Path]:
    """A TMPDIR for a command the test SIGKILLs, which cannot remove its multiprocessing folder
    (``pymp-*``) itself: a short path (the fork server's socket lives there, and a Unix socket
    path has at most 107 bytes, which a deep tmp_path under xdist can pass), removed here once
    the command and its workers are dead, so nothing is left in the session's temp dir."""
    folder = Path(tempfile.mkdtemp(prefix="k-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
@pytest.mark.parametrize(
    ("command", "how"),
    [
        ("stats", "pdeathsig"),
        ("validate", "pdeathsig"),
        ("stats", "pidfd"),
        ("validate", "polling"),
        ("synth", "pdeathsig"),
        ("synth", "polling"),
    ],
)
def test_workers_die_with_a_killed_command(
    busy_tree: Path,
    tmp_path: Path,
    reaper: set[tuple[int, int]],
    command: str,
    how: str,
    child_tmpdir: Path,
) -> None:
    if how != "pdeathsig" and not hasattr(os, "pidfd_open"):
        pytest.skip("no os.pidfd_open here")
    env = {
        **os.environ,
        "LUNGSEGDB_WORKERS": "2",
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(child_tmpdir),
    }
    if command == "synth":
        what = [str(tmp_path / "out"), "--pairs", "300", "--format", "none"]
    else:
        what = ["--data-dir", str(busy_tree), "--no-cache"]
    args = [sys.executable, *STARTS[how], command, *what, "-q"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(reaper) < BUSY[command] and proc.poll() is None and time.monotonic() < deadline:
            reaper.update(_descendants(proc.pid))
            time.sleep(0.005)
        assert proc.poll() is None, f"{command} ended before its workers were seen"
        assert len(reaper) >= BUSY[command]
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 15  # a bound, not a speed claim: a loaded CI box is slow
    while _alive(reaper) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(reaper), "worker processes outlived the killed command"
