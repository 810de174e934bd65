"""A hostile mirror on 127.0.0.1: a real ``http.server`` whose one file answer misbehaves.

:class:`Hostile` serves ``body`` at every path, then, by its fields:

* ``trickle``: after ``body``, one more byte every ``trickle`` seconds, forever
  (``Content-Length`` announces ``announce`` bytes, so the client keeps waiting);
* ``endless``: no ``Content-Length``; after ``body``, junk until the client hangs up;
* ``extra``: after ``body``, ``extra`` bytes of junk, then the connection closes; with
  ``announce`` (e.g. ``len(body)``) the header announces fewer bytes than are sent.

HTTP/1.0 (one answer per connection), so a body without ``Content-Length`` ends when the
connection does. ``sent`` counts the bytes written (what the client may have received).
Use as a context manager; leaving it stops every answer still being written.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JUNK = b"\x00junk" * 13_107  # 65,535 bytes


@dataclass
class Hostile:
    body: bytes = b""
    announce: int | None = None
    trickle: float = 0.0
    endless: bool = False
    extra: int = 0
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/LungSegDB.zip"

    def __enter__(self) -> Hostile:
        hostile = self

        class Handler(_Handler):
            owner = hostile

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def stopped(self, wait: float = 0.0) -> bool:
        return self._stop.wait(wait)


class _Handler(BaseHTTPRequestHandler):
    owner: Hostile

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        self.owner.sent += len(data)

    def do_GET(self) -> None:
        h = self.owner
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        if h.announce is not None:
            self.send_header("Content-Length", str(h.announce))
        self.end_headers()
        try:
            self._write(h.body)
            if h.trickle:
                while not h.stopped(h.trickle):
                    self._write(b"\x00")
            elif h.endless:
                while not h.stopped():
                    self._write(JUNK)
            elif h.extra:
                self._write((JUNK * (h.extra // len(JUNK) + 1))[: h.extra])
        except OSError:  # the client hung up: what a hostile server expects
            return
