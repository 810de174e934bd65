"""Timing harness for the benchmarks: alternating A/B rounds, median wall time, peak RSS, CPU.

Each side of a comparison is a shell-free command (a list of argv) run as a child process;
its peak RSS and its CPU time (user + system) come from ``os.wait4`` (the child and the
descendants it waited for). On a shared host the CPU time is the steadier of the two.
Where ``/proc/stat`` exists, the busy time of the whole machine (every core, every process:
a local server's share included) is recorded too: a run cannot take less wall time than that
divided by the cores. A ``setup`` callable runs before every round of a side, untimed (e.g.
empty the target dir).

Besides the median, each row gives the ratio of the best rounds (``best_ratio``): on the
virtual machines these benchmarks run on, a round now and then pays for page faults on
memory the host took back (seen: writing 0.9 GB took 0.18 s of system time in one round and
2.4 s in the next), which lands on either side at random; the best of N rounds is the
steadier comparison of the two commands' own costs. Targets are judged on the medians.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Run:
    wall: float
    peak_rss_mb: float
    returncode: int
    user: float = 0.0
    sys: float = 0.0
    machine: float | None = None  # busy CPU seconds of the whole machine, all cores

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def run_once(
    argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    """Run ``argv`` once; return its wall time, peak RSS (MB), exit code and CPU times."""
    busy0 = machine_busy()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    busy1 = machine_busy()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {rc}:\n{stderr[-2000:]}")
    return Run(
        wall=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,
        returncode=rc,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        machine=None if busy0 is None or busy1 is None else busy1 - busy0,
    )


def machine_busy() -> float | None:
    """Busy CPU seconds of the whole machine since boot (``/proc/stat``: every state but idle
    and iowait, summed over the cores), or None where there is no ``/proc/stat``."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Side:
    label: str
    argv: Sequence[str]
    setup: Callable[[], None] | None = None
    env: dict[str, str] | None = None
    cwd: Path | None = None
    runs: list[Run] = field(default_factory=list)

    def once(self) -> Run:
        if self.setup is not None:
            self.setup()
        r = run_once(self.argv, env=self.env, cwd=self.cwd)
        self.runs.append(r)
        return r

    @property
    def median(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.runs)

    @property
    def cpu_median(self) -> float:
        """Median CPU seconds (user + system) of the child."""
        return statistics.median(r.cpu for r in self.runs)

    @property
    def best(self) -> float:
        """The fastest round's wall time."""
        return min(r.wall for r in self.runs)

    @property
    def machine_median(self) -> float | None:
        """Median busy CPU seconds of the whole machine during a round (None: not known)."""
        values = [r.machine for r in self.runs if r.machine is not None]
        return statistics.median(values) if values else None

    @property
    def user_median(self) -> float:
        return statistics.median(r.user for r in self.runs)

    @property
    def sys_median(self) -> float:
        return statistics.median(r.sys for r in self.runs)


@dataclass
class Comparison:
    """``ours`` vs ``theirs``; the target is met when median(ours)/median(theirs) <= ratio.

    ``max_ratio`` None means report only. ``min_speedup`` (theirs/ours >= x) is an alternative
    target. ``rss_limit_mb`` bounds our peak RSS.
    """

    name: str
    ours: Side
    theirs: Side
    max_ratio: float | None = None
    min_speedup: float | None = None
    rss_limit_mb: float | None = None
    max_seconds: float | None = None
    #: ours must keep this many cores busy on average: median CPU / median wall time
    min_cores: float | None = None
    #: at least this many rounds whatever ``--rounds`` says (start-up times: a median of 9)
    min_rounds: int = 0
    #: the 1-minute load average when the comparison started (other jobs on the machine)
    load: float | None = None

    def run(self, rounds: int) -> None:
        self.load = load_average()
        for i in range(max(rounds, self.min_rounds)):
            order = (self.ours, self.theirs) if i % 2 == 0 else (self.theirs, self.ours)
            for side in order:
                side.once()

    @property
    def ratio(self) -> float:
        return self.ours.median / self.theirs.median

    @property
    def best_ratio(self) -> float:
        """The ratio of the fastest rounds of each side."""
        return self.ours.best / self.theirs.best

    @property
    def cores(self) -> float:
        """How many cores ours kept busy: its median CPU time over its median wall time."""
        return self.ours.cpu_median / self.ours.median

    @property
    def target(self) -> str:
        parts = []
        if self.max_ratio is not None:
            parts.append(f"ratio <= {self.max_ratio}")
        if self.min_speedup is not None:
            parts.append(f"speed-up >= {self.min_speedup}x")
        if self.rss_limit_mb is not None:
            parts.append(f"RSS < {self.rss_limit_mb:.0f} MB")
        if self.max_seconds is not None:
            parts.append(f"ours < {self.max_seconds:g} s")
        if self.min_cores is not None:
            parts.append(f"CPU/wall >= {self.min_cores:g}")
        return ", ".join(parts) or "report"

    @property
    def met(self) -> bool:
        ok = True
        if self.max_ratio is not None:
            ok &= self.ratio <= self.max_ratio
        if self.min_speedup is not None:
            ok &= (1 / self.ratio) >= self.min_speedup
        if self.rss_limit_mb is not None:
            ok &= self.ours.peak_rss_mb < self.rss_limit_mb
        if self.max_seconds is not None:
            ok &= self.ours.median < self.max_seconds
        if self.min_cores is not None:
            ok &= self.cores >= self.min_cores
        return ok

    def row(self) -> dict[str, object]:
        return {
            "comparison": self.name,
            "ours": self.ours.label,
            "ours_s": round(self.ours.median, 3),
            "ours_rss_mb": round(self.ours.peak_rss_mb, 1),
            "theirs": self.theirs.label,
            "theirs_s": round(self.theirs.median, 3),
            "theirs_rss_mb": round(self.theirs.peak_rss_mb, 1),
            "ratio": round(self.ratio, 3),
            "ours_best_s": round(self.ours.best, 3),
            "theirs_best_s": round(self.theirs.best, 3),
            "best_ratio": round(self.best_ratio, 3),
            "ours_machine_cpu_s": _rounded(self.ours.machine_median),
            "theirs_machine_cpu_s": _rounded(self.theirs.machine_median),
            "ours_machine_cpu_rounds": [_rounded(r.machine) for r in self.ours.runs],
            "theirs_machine_cpu_rounds": [_rounded(r.machine) for r in self.theirs.runs],
            "ours_cores": round(self.cores, 2),
            "load1": _rounded(self.load),
            "ours_cpu_s": round(self.ours.cpu_median, 3),
            "ours_user_s": round(self.ours.user_median, 3),
            "ours_sys_s": round(self.ours.sys_median, 3),
            "theirs_cpu_s": round(self.theirs.cpu_median, 3),
            "theirs_user_s": round(self.theirs.user_median, 3),
            "theirs_sys_s": round(self.theirs.sys_median, 3),
            "ours_walls": [round(r.wall, 3) for r in self.ours.runs],
            "theirs_walls": [round(r.wall, 3) for r in self.theirs.runs],
            "target": self.target,
            "met": self.met,
        }


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def fresh(*folders: Path) -> Callable[[], None]:
    """A :attr:`Side.setup` that empties ``folders`` and flushes dirty pages before a round."""

    def setup() -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        os.sync()

    return setup


def need_unzip(bench: str) -> str:
    """The path of ``unzip`` (the by-hand side of download and extract), or a clear error."""
    unzip = shutil.which("unzip")
    if unzip is None:
        raise RuntimeError(f"{bench} needs unzip: apt-get install -y unzip")
    return unzip
