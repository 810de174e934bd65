"""A local fake of Google Drive (and of a plain mirror) on 127.0.0.1, for tests and benchmarks.

A real threaded HTTP/1.1 server that answers the way Drive does:

* ``/uc?id=ID&export=download`` -> ``303`` to ``/download?id=ID&export=download`` (the
  drive.usercontent.google.com step);
* ``/download?...`` for a *large* file without ``confirm``/``uuid`` -> the virus-scan warning
  page (``<form id="download-form" action=".../download">`` with hidden ``id``, ``export``,
  ``confirm``, ``uuid`` inputs); with them (or for a small file) -> the bytes, with
  ``Content-Disposition: attachment; filename="..."``;
* a *quota* file -> the "Too many users have viewed or downloaded this file recently" page;
  an unknown id -> Drive's 404 page; a *private* file -> a redirect to a sign-in page;
* ``/mirror/NAME`` -> a plain static file with ``ETag``; ``/html-mirror/NAME`` -> a login page
  served as ``application/octet-stream`` (only magic bytes tell);
* every file answer supports ``Range`` (``206`` + ``Content-Range``, ``416``, ``If-Range``).

Knobs (lists are consumed one per file answer): ``fail_next`` [(status, retry_after)],
``drop_after`` [bytes sent before the connection is cut, after announcing the full length],
``ignore_range`` (answer ``200`` to ranges), ``throttle`` (seconds slept per 64 KiB). The server
records what it saw (``seen``: path, query, Range header, status, bytes sent) and counts
complete ``200`` bodies in ``full_downloads``. Files are ``bytes`` or a ``Path`` (sent with
``sendfile``, so a multi-GB file costs no memory).

For the second Drive client (gdown, which always asks for ``https://drive.google.com``):
:meth:`FakeDrive.enable_tls` makes the server an HTTP proxy too: ``CONNECT`` is answered and
TLS terminated with a certificate for Drive's hosts from a test CA (its PEM path is returned:
give it to clients as ``REQUESTS_CA_BUNDLE``); inside the tunnel the same Drive answers come
back, redirecting to ``https://drive.usercontent.google.com``. More modes per file:
``novel_page`` (an interstitial our parser does not know but gdown's does: the confirmation
form is a ``<div id="download-form" action=...>``), ``cookie="NAME=VALUE"`` (the quota page
unless that cookie is sent), ``quota_page`` (the quota page in another language:
:func:`quota_page` builds one the way Drive does).

``https`` (a :class:`support.tls.LoopbackTLS`) serves HTTPS itself (``base`` is then
``https://...``): the handshake runs on the handler's thread, and a file body is sent in
1 MiB writes (TLS cannot ``sendfile``), which the TLS layer cuts into ~16 KiB records the way
a real server's are.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from support.tls import LoopbackTLS

QUOTA_PAGE = (
    '<!DOCTYPE html><html><head><meta http-equiv="content-type" content="text/html; '
    'charset=utf-8"/><title>Google Drive - Quota exceeded</title></head><body>'
    '<div class="uc-main"><div id="uc-text"><p class="uc-error-caption">Sorry, you can\'t view '
    'or download this file at this time.</p><p class="uc-error-subcaption">Too many users '
    "have viewed or downloaded this file recently. Please try accessing the file again later. "
    "If the file you are trying to access is particularly large or is shared with many people, "
    "it may take up to 24 hours to be able to view or download the file. If you still can't "
    "access a file after 24 hours, contact your domain administrator.</p></div></div>"
    "</body></html>"
)

NOT_FOUND_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Google Drive - Page Not '
    "Found</title></head><body><div><p>Sorry, the file you have requested does not exist.</p>"
    "<p>Make sure that you have the correct URL and that the file exists.</p></div></body></html>"
)

SIGN_IN_PAGE = (
    "<!doctype html><html><head><title>Sign in - Google Accounts</title></head><body>"
    '<form action="/signin" method="post"><input type="email" name="identifier">'
    "</form></body></html>"
)

LOGIN_PAGE_AS_OCTET = (
    "<!DOCTYPE html>\n<html><head><title>Please log in</title></head>"
    "<body>Session expired</body></html>"
)


def quota_page(lang: str, title: str, caption: str, subcaption: str) -> str:
    """Drive's quota page in language ``lang``: the structure of :data:`QUOTA_PAGE` (the
    ``uc-main`` download error page), the words given."""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta http-equiv="content-type" '
        f'content="text/html; charset=utf-8"/><title>{html.escape(title)}</title></head><body>'
        '<div class="uc-main"><div id="uc-text"><p class="uc-error-caption">'
        f'{html.escape(caption)}</p><p class="uc-error-subcaption">{html.escape(subcaption)}'
        "</p></div></div></body></html>"
    )


def virus_page(action: str, file_id: str, name: str, size: int, uuid: str, form_id: str) -> str:
    """Drive's virus-scan warning page (one long line, as Drive sends it)."""
    return (
        "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title><meta "
        'http-equiv="content-type" content="text/html; charset=utf-8"/></head><body><div '
        'class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can\'t '
        'scan this file for viruses.</p><p class="uc-warning-subcaption"><span class="uc-name-'
        f'size"><a href="/open?id={file_id}">{html.escape(name)}</a> ({size // 1_000_000}M)'
        "</span> is too large for Google to scan for viruses. Would you still like to download "
        f'this file?</p><form id="{form_id}" action="{html.escape(action)}" method="get">'
        '<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button '
        'jfk-button-action" value="Download anyway"/><input type="hidden" name="id" '
        f'value="{file_id}"><input type="hidden" name="export" value="download"><input '
        'type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" '
        f'value="{uuid}"></form></div></div></body></html>'
    )


def novel_page(action: str, file_id: str, uuid: str) -> str:
    """An interstitial lungsegdb's parser does not know but gdown's does: Drive's confirmation
    "form" as a ``<div id="download-form" action=...>`` with hidden inputs (a form a script
    submits), no ``<form>`` element and no ``export=download`` link (one line, as Drive sends)."""
    return (
        "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>"
        '<body><div class="uc-main"><p class="uc-warning-caption">Google Drive can\'t scan this '
        f'file for viruses.</p><div id="download-form" action="{html.escape(action)}" '
        'data-method="get"><input type="hidden" name="id" '
        f'value="{file_id}"><input type="hidden" name="export" value="download"><input '
        'type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" '
        f'value="{uuid}"><div role="button" class="uc-download-button">Download anyway</div>'
        "</div></div><script>/* submits #download-form */</script></body></html>"
    )


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    range: str | None
    if_range: str | None
    status: int = 0
    sent: int = 0
    host: str | None = None  # the Host header (a Drive host inside a TLS tunnel)
    cookie: str | None = None  # the Cookie header


@dataclass
class DriveFile:
    data: bytes | Path
    name: str
    large: bool = False  # answered with the virus-scan warning first
    quota: bool = False
    private: bool = False
    broken_form: bool = False  # a warning page whose form we cannot follow
    novel_page: bool = False  # a warning page only gdown's parser follows
    cookie: str | None = None  # "NAME=VALUE": the quota page unless this cookie is sent
    quota_page: str = ""  # a quota page of another language (served as for quota=True)

    @property
    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)

    @property
    def etag(self) -> str:
        if isinstance(self.data, Path):
            st = self.data.stat()
            return f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        return '"' + hashlib.sha1(self.data).hexdigest()[:16] + '"'


@dataclass
class FakeDrive:
    files: dict[str, DriveFile] = field(default_factory=dict)  # by Drive id
    mirror: dict[str, bytes | Path] = field(default_factory=dict)  # by name
    fail_next: list[tuple[int, str | None]] = field(default_factory=list)
    drop_after: list[int] = field(default_factory=list)
    ignore_range: bool = False
    #: a range is served even when If-Range names another version (a server ignoring it)
    ignore_if_range: bool = False
    #: a range is answered with at most this many bytes (a server capping a range's length)
    range_cap: int | None = None
    #: a request for the whole file is answered 206 with the whole range (a broken server)
    partial_for_whole: bool = False
    #: a 206 without the ETag the 200 had, with a Last-Modified only (legitimate servers do)
    no_etag_on_206: bool = False
    #: a second, different Content-Length header (an answer that contradicts itself)
    second_length: int | None = None
    throttle: float = 0.0
    uuid: str = "7c0e4e5f-6b2d-4a37-9a1e-0123456789ab"
    seen: list[Seen] = field(default_factory=list)
    full_downloads: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    https: LoopbackTLS | None = None  # serve HTTPS on the port itself (not a tunnel)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    tls: ssl.SSLContext | None = None  # set by enable_tls: CONNECT is answered
    tunnels: list[str] = field(default_factory=list)  # CONNECT targets seen

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def base(self) -> str:
        scheme = "https" if self.https is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> FakeDrive:
        fake = self

        class Handler(_Handler):
            drive = fake

        class TunnelHandler(Handler):
            tunneled = True

        self._tunnel_handler = TunnelHandler
        self._server = _Server((self.host, self.port), Handler)
        if self.https is not None:
            self._server.tls_context = self.https.server_context()
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeDrive:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests -------------------------------------------------------------------
    def enable_tls(self, folder: Path) -> Path:
        """Answer ``CONNECT`` for Drive's hosts with TLS from a fresh test CA; the CA's PEM
        file (written into ``folder``) for ``REQUESTS_CA_BUNDLE``."""
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert(*DRIVE_TLS_HOSTS)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.tls = ctx
        pem = Path(folder) / "fake-drive-ca.pem"
        ca.cert_pem.write_to_path(str(pem))
        return pem

    def add(
        self, file_id: str, data: bytes | Path, name: str = "LungSegDB.zip", **kw: bool | str
    ) -> str:
        self.files[file_id] = DriveFile(data, name, **kw)
        return file_id

    def uc_url(self, file_id: str) -> str:
        return f"{self.base}/uc?id={file_id}&export=download"

    def view_url(self, file_id: str) -> str:
        return f"{self.base}/file/d/{file_id}/view?usp=drive_link"

    def mirror_url(self, name: str) -> str:
        return f"{self.base}/mirror/{urllib.parse.quote(name)}"

    def _pop(self, queue: list) -> object | None:  # type: ignore[type-arg]
        with self._lock:
            return queue.pop(0) if queue else None


#: the hosts the TLS certificate of :meth:`FakeDrive.enable_tls` names
DRIVE_TLS_HOSTS = ("drive.google.com", "drive.usercontent.google.com", "docs.google.com")
TUNNEL_BASE = "https://drive.usercontent.google.com"


class _Server(ThreadingHTTPServer):
    tls_context: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = super().get_request()
        if self.tls_context is not None:
            # the handshake happens on the handler's thread, at its first read
            sock = self.tls_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr

    def handle_error(self, request: object, client_address: object) -> None:
        # a client that hangs up (a closed keep-alive connection, a test's abort) is normal
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    drive: FakeDrive
    tunneled = False  # requests arriving inside a CONNECT tunnel (TLS)

    def log_message(self, format: str, *args: object) -> None:
        pass

    # -- plumbing ----------------------------------------------------------------------------
    def _send_body(
        self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        # record before answering: a test may read it as soon as the client has the answer
        self._record.status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _html(self, status: int, page: str) -> None:
        self._send_body(status, page.encode(), "text/html; charset=utf-8")

    def _redirect(self, status: int, location: str) -> None:
        self._send_body(status, b"", "text/html; charset=UTF-8", {"Location": location})

    def _base(self) -> str:
        return TUNNEL_BASE if self.tunneled else self.drive.base

    def do_CONNECT(self) -> None:
        """A proxy's tunnel: TLS terminated here, then the same answers inside it."""
        with self.drive._lock:
            self.drive.tunnels.append(self.path)
        self._record = Seen("CONNECT", {}, None, None)
        ctx = self.drive.tls
        if ctx is None or self.tunneled:
            self._send_body(502, b"no tunnels here\n", "text/plain")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        try:
            tls = ctx.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.drive._tunnel_handler(tls, self.client_address, self.server)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        self._record = Seen(
            parts.path,
            query,
            self.headers.get("Range"),
            self.headers.get("If-Range"),
            host=self.headers.get("Host"),
            cookie=self.headers.get("Cookie"),
        )
        with self.drive._lock:
            self.drive.seen.append(self._record)
        path = parts.path
        base = self._base()
        if path in ("/uc", "/open"):
            fid = query.get("id", "")
            self._redirect(303, f"{base}/download?id={fid}&export=download")
        elif path == "/download":
            self._download(query)
        elif path == "/ServiceLogin":
            self._html(200, SIGN_IN_PAGE)
        elif path.startswith("/mirror/"):
            name = urllib.parse.unquote(path[len("/mirror/") :])
            data = self.drive.mirror.get(name)
            if data is None:
                self._send_body(404, b"not found\n", "text/plain")
            else:
                self._serve(DriveFile(data, name), "application/zip", attachment=False)
        elif path.startswith("/html-mirror/"):
            self._send_body(200, LOGIN_PAGE_AS_OCTET.encode(), "application/octet-stream")
        else:
            self._html(404, NOT_FOUND_PAGE)

    def _download(self, query: dict[str, str]) -> None:
        f = self.drive.files.get(query.get("id", ""))
        if f is None:
            self._html(404, NOT_FOUND_PAGE)
            return
        if f.private:
            self._redirect(302, f"{self._base()}/ServiceLogin?continue=download")
            return
        if f.quota or f.quota_page or (f.cookie and f.cookie not in self._cookies()):
            self._html(200, f.quota_page or QUOTA_PAGE)
            return
        confirmed = query.get("confirm") == "t" and query.get("uuid") == self.drive.uuid
        if f.novel_page and not confirmed:
            self._html(200, novel_page(f"{self._base()}/download", query["id"], self.drive.uuid))
            return
        if (f.large or f.broken_form) and not confirmed:
            form_id = "other-form" if f.broken_form else "download-form"
            page = virus_page(
                f"{self._base()}/download", query["id"], f.name, f.size, self.drive.uuid, form_id
            )
            self._html(200, page)
            return
        self._serve(f, "application/x-zip-compressed", attachment=True)

    def _cookies(self) -> set[str]:
        """The ``NAME=VALUE`` pairs of the request's Cookie header(s)."""
        pairs: set[str] = set()
        for header in self.headers.get_all("Cookie") or []:
            pairs.update(p.strip() for p in header.split(";") if p.strip())
        return pairs

    def _serve(self, f: DriveFile, ctype: str, *, attachment: bool) -> None:
        fail = self.drive._pop(self.drive.fail_next)
        if fail is not None:
            status, retry_after = fail  # type: ignore[misc]
            extra = {"Retry-After": retry_after} if retry_after else {}
            self._send_body(status, b"try again later\n", "text/plain", extra)
            return
        size = f.size
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        fresh = if_range is None or if_range == f.etag or self.drive.ignore_if_range
        if rng and not self.drive.ignore_range and fresh:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            if m:
                start = int(m.group(1))
                if start >= size:
                    self._send_body(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                    return
                status = 206
        if not rng and self.drive.partial_for_whole:
            status = 206
        end = size - 1
        if status == 206 and rng and self.drive.range_cap is not None:
            end = min(end, start + self.drive.range_cap - 1)
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        if self.drive.second_length is not None:
            self.send_header("Content-Length", str(self.drive.second_length))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206 and self.drive.no_etag_on_206:
            self.send_header("Last-Modified", "Mon, 07 Dec 2026 00:00:00 GMT")
        else:
            self.send_header("ETag", f.etag)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if attachment:
            self.send_header("Content-Disposition", f'attachment; filename="{f.name}"')
        self._record.status = status
        drop = self.drive._pop(self.drive.drop_after)
        limit = length if drop is None else min(length, int(drop))  # type: ignore[call-overload]
        # count a full download before its last byte leaves: the client may check right after
        full = status == 200 and limit == size
        if full:
            with self.drive._lock:
                self.drive.full_downloads += 1
        self._record.sent = limit  # what we mean to send; corrected below if the client left
        self.end_headers()
        sent = self._write_range(f.data, start, limit)
        self._record.sent = sent
        if full and sent != size:
            with self.drive._lock:
                self.drive.full_downloads -= 1
        if drop is not None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return

    def _write_range(self, data: bytes | Path, start: int, count: int) -> int:
        step = 64 * 1024
        sent = 0
        try:
            tls = isinstance(self.connection, ssl.SSLSocket)
            if isinstance(data, Path) and not self.drive.throttle and tls:
                return self._write_tls(data, start, count)
            if isinstance(data, Path) and not self.drive.throttle:
                with open(data, "rb") as fh:
                    while sent < count:
                        n = self.connection.sendfile(fh, start + sent, count - sent)
                        if not n:
                            break
                        sent += n
                return sent
            view = memoryview(data.read_bytes() if isinstance(data, Path) else data)
            while sent < count:
                n = min(step, count - sent)
                if self.drive.throttle:
                    time.sleep(self.drive.throttle)
                self.wfile.write(view[start + sent : start + sent + n])
                sent += n
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        return sent

    def _write_tls(self, data: Path, start: int, count: int) -> int:
        """Send ``count`` bytes of ``data`` from ``start`` over TLS in 1 MiB writes."""
        buf = memoryview(bytearray(1 << 20))
        sent = 0
        with open(data, "rb", buffering=0) as fh:
            fh.seek(start)
            while sent < count:
                n = fh.readinto(buf[: min(len(buf), count - sent)])
                if not n:
                    break
                self.connection.sendall(buf[:n])
                sent += n
        return sent
