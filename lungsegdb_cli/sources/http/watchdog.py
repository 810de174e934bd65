"""A watchdog for a blocking read: a read that overruns its deadline has its connection shut
down, so it ends at once instead of waiting for the next byte.

A socket timeout bounds each ``recv`` on its own: a server that sends one byte every 20 s
never trips a 60 s timeout, and ``http.client`` goes on filling a block byte by byte. One
:class:`Watchdog` serves one transfer: :meth:`Watchdog.arm` gives the deadline of the read
about to start and what ends it (:func:`interrupter` of a response: ``shutdown(2)`` of its
socket), :meth:`Watchdog.disarm` says the read is over and whether it was cut. Its daemon
thread starts at the first :meth:`~Watchdog.arm`, wakes at most every ``poll`` seconds and
stops at :meth:`~Watchdog.close`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

__all__ = ["Watchdog", "interrupter"]

Interrupt = Callable[[], None]


class Watchdog:
    """Calls the armed ``interrupt`` once ``clock()`` passes the armed deadline."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, poll: float = 1.0) -> None:
        self._clock = clock
        self._poll = max(0.01, poll)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._deadline: float | None = None
        self._interrupt: Interrupt | None = None
        self._fired = False
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, interrupt: Interrupt) -> None:
        """Watch the read about to start: ``interrupt()`` if it is still running at
        ``deadline`` (in ``clock`` seconds)."""
        with self._lock:
            self._deadline, self._interrupt, self._fired = deadline, interrupt, False
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="lungsegdb-watchdog", daemon=True
                )
                self._thread.start()

    def disarm(self) -> bool:
        """The read is over; True if it was cut (its deadline passed)."""
        with self._lock:
            fired = self._fired
            self._deadline, self._interrupt, self._fired = None, None, False
        return fired

    def close(self) -> None:
        """Stop the thread (the transfer is over)."""
        self._closed.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                deadline, now = self._deadline, self._clock()
                if deadline is not None and now >= deadline and self._interrupt is not None:
                    # under the lock: disarm() cannot return before the read is cut
                    self._fired, self._deadline = True, None
                    self._interrupt()
                    deadline = None
            wait = self._poll if deadline is None else min(self._poll, max(deadline - now, 0.0))
            if self._closed.wait(wait):
                return


def _socket_of(resp: object) -> socket.socket | None:
    """The socket under a ``requests`` response while its body streams, or None."""
    raw = getattr(resp, "raw", None)
    sock = getattr(getattr(raw, "connection", None), "sock", None)  # urllib3's connection
    if isinstance(sock, socket.socket):
        return sock
    # http.client's file object: HTTPResponse.fp (buffered) -> SocketIO -> socket
    io = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
    sock = getattr(io, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def interrupter(resp: object) -> Interrupt | None:
    """What ends a read blocked on ``resp``'s connection: ``shutdown(SHUT_RDWR)`` of its
    socket, through a duplicate descriptor (a TLS socket's own state is left alone); the read
    then sees the end of the stream. None when there is no socket to reach (a test's fake)."""
    sock = _socket_of(resp)
    if sock is None:
        return None

    def interrupt() -> None:
        try:
            fd = sock.fileno()
            if fd < 0:
                return
            with socket.fromfd(fd, sock.family, sock.type) as dup:
                dup.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: nothing left to cut

    return interrupt
