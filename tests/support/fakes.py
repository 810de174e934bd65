"""Helpers shared by the tests: fake progress reporters (they implement
``progress.Progress``) and a guard against hangs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def finishes(fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    """``fn()`` on a daemon thread: its result (or exception), or a test failure if it still
    runs after ``timeout`` -- a guard so that a regression fails instead of hanging the suite,
    not a speed check."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "still running: it would hang forever"
    if "error" in out:
        raise out["error"]
    return out["value"]


class RecordingProgress:
    """Remembers every phase started and finished, the amount advanced and any notes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.advanced = 0
        self.notes: list[str] = []

    def start(self, description: str, total: int | None, unit: str = "files") -> None:
        self.calls.append(("start", (total, unit)))

    def advance(self, amount: int = 1) -> None:
        self.advanced += amount

    def done(self) -> None:
        self.calls.append(("done", None))

    def note(self, message: str) -> None:
        self.notes.append(message)


class InterruptingProgress(RecordingProgress):
    """Raises ``exc`` (Ctrl-C by default) once more than ``after`` has been advanced, or on the
    ``after``-th call of ``advance`` with ``per_call``."""

    def __init__(
        self, after: int, exc: BaseException | None = None, *, per_call: bool = False
    ) -> None:
        super().__init__()
        self.after = after
        self.exc = exc if exc is not None else KeyboardInterrupt()
        self.per_call = per_call
        self.advance_calls = 0

    @property
    def seen(self) -> int:
        return self.advanced

    def advance(self, amount: int = 1) -> None:
        super().advance(amount)
        self.advance_calls += 1
        if (self.advance_calls == self.after) if self.per_call else (self.advanced > self.after):
            raise self.exc


class InterruptAt:
    """A commit hook (``commit.set_hook``) raising ``KeyboardInterrupt`` at its ``n``-th
    checkpoint: Ctrl-C at exactly that point of a commit."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def __call__(self, point: str) -> None:
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


class AtPoint:
    """A commit hook (``set_hook``) running ``action`` once, at the first checkpoint named
    ``point``: what another process or a user does at exactly that step of a run, with no
    sleep to time it."""

    def __init__(self, point: str, action: Callable[[], Any]) -> None:
        self.point, self.action = point, action
        self.fired = False

    def __call__(self, point: str) -> None:
        if point == self.point and not self.fired:
            self.fired = True
            self.action()
