"""Fake progress reporters shared by the tests (they implement ``progress.Progress``)."""

from __future__ import annotations

from typing import Any


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
