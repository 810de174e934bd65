"""Progress reporting: a small protocol the library calls, and the renderers the CLI picks.

Library functions take ``progress: Progress | None``; they call :meth:`Progress.start` once per
phase, :meth:`Progress.advance` as work completes (from any thread), and :meth:`Progress.done`.
They never print. The CLI chooses a renderer with :func:`make_progress`: a rich bar when stderr
is a terminal and ``CI`` is unset, a few plain lines otherwise, nothing with ``--quiet``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # rich is imported when a bar starts, not with this module
    from rich.console import Console
    from rich.progress import Progress as RichBar
    from rich.progress import ProgressColumn, TaskID


class Progress(Protocol):
    def start(self, description: str, total: int | None, unit: str = "files") -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def done(self) -> None: ...


def note(progress: Progress | None, message: str) -> None:
    """Pass a one-line note (a retry, a restart) to the renderer, if it shows notes (None
    shows none); any URL in it redacted (:func:`lungsegdb_cli._redact.redact`)."""
    show = getattr(progress, "note", None)
    if callable(show):
        from lungsegdb_cli._redact import redact

        show(redact(message))


class NullProgress:
    """Reports nothing. The default when a caller passes no progress."""

    def start(self, description: str, total: int | None, unit: str = "files") -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def done(self) -> None:
        pass


def ensure(progress: Progress | None) -> Progress:
    return NullProgress() if progress is None else progress


def _human(n: float, unit: str) -> str:
    """``n`` in ``unit``: bytes in binary units (``133.6 MiB``), else a count with its noun in
    the right number (``unit`` is the plural, as the protocol takes it: ``1 tile``)."""
    from lungsegdb_cli.utils.units import counted, human_bytes

    if unit != "B":
        return counted(int(n), unit[:-1] if unit.endswith("s") else unit, unit)
    return human_bytes(n)


class PlainProgress:
    """A few plain lines on a stream: start, every ~10 %, done. For CI logs and pipes."""

    def __init__(
        self,
        stream: IO[str],
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 1.0,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._min_interval = min_interval  # no percentage lines for phases quicker than this
        self._last = 0.0
        self._lock = threading.Lock()
        self._desc = ""
        self._total: int | None = None
        self._unit = "files"
        self._done = 0
        self._next_tenth = 1
        self._t0 = 0.0

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def start(self, description: str, total: int | None, unit: str = "files") -> None:
        with self._lock:
            self._desc, self._total, self._unit = description, total, unit
            self._done, self._next_tenth, self._t0 = 0, 1, self._clock()
            self._last = self._t0
            size = f" ({_human(total, unit)})" if total else ""
            self._write(f"{description}: started{size}")

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            self._done += amount
            if not self._total:
                return
            tenth = self._done * 10 // self._total
            if tenth >= self._next_tenth and tenth < 10:
                self._next_tenth = tenth + 1
                now = self._clock()
                if now - self._last < self._min_interval:
                    return
                self._last = now
                self._write(
                    f"{self._desc}: {tenth * 10}% ({_human(self._done, self._unit)}"
                    f" of {_human(self._total, self._unit)})"
                )

    def note(self, message: str) -> None:
        with self._lock:
            self._write(message)

    def done(self) -> None:
        with self._lock:
            elapsed = self._clock() - self._t0
            self._write(f"{self._desc}: done, {_human(self._done, self._unit)} in {elapsed:.1f} s")


class RichProgress:
    """A rich progress bar on stderr (bytes, speed and ETA for byte counts)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._bar: RichBar | None = None
        self._task: TaskID | None = None
        self._lock = threading.Lock()

    def start(self, description: str, total: int | None, unit: str = "files") -> None:
        from rich import progress as rp

        self.done()
        columns: list[ProgressColumn] = [rp.TextColumn("{task.description}"), rp.BarColumn()]
        if unit == "B":
            columns += [rp.DownloadColumn(), rp.TransferSpeedColumn(), rp.TimeRemainingColumn()]
        else:
            columns += [rp.MofNCompleteColumn(), rp.TimeElapsedColumn(), rp.TimeRemainingColumn()]
        bar = rp.Progress(*columns, console=self._console, transient=False)
        bar.start()
        self._bar = bar
        self._task = bar.add_task(description, total=total)

    def note(self, message: str) -> None:
        self._console.print(message, markup=False, highlight=False)

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            if self._bar is not None and self._task is not None:
                self._bar.advance(self._task, amount)

    def done(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
                self._task = None


def wants_bars(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """Bars only when the stream is a terminal and ``CI`` is unset."""
    env = os.environ if env is None else env
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not env.get("CI")


def make_progress(
    *, quiet: bool, console: Console | None = None, stream: IO[str] | None = None
) -> Progress:
    """The renderer for this run: nothing, plain lines, or rich bars."""
    if quiet:
        return NullProgress()
    stream = sys.stderr if stream is None else stream
    if console is not None and wants_bars(stream):
        return RichProgress(console)
    return PlainProgress(stream)
