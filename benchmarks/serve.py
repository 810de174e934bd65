"""Serve one file over loopback the way Google Drive (and a plain mirror) would, until killed.

    python benchmarks/serve.py FILE [--drive-id ID] [--port 0] [--throttle SECONDS]
                                    [--tls FOLDER]

Prints ``http://127.0.0.1:PORT`` on the first line of stdout once it listens.
With ``--tls FOLDER`` it serves HTTPS (``https://127.0.0.1:PORT``) with a throwaway CA
(``tests/support/tls.py``) made in FOLDER: point clients at ``FOLDER/ca-bundle.pem``
(``REQUESTS_CA_BUNDLE``; the bundle also holds the machine's own CAs). The file is then
at ``/mirror/<name>`` (static, Range, ETag, ``sendfile``) and, as Drive file ``ID``, behind
``/uc?id=ID&export=download`` -> 303 -> the virus-scan warning form -> the bytes. The server
is the fake of the tests (``tests/support/drive_fake.py``), so benchmarks and tests see the
same Drive.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*

from support.drive_fake import FakeDrive
from support.tls import LoopbackTLS

DEFAULT_ID = "1EjzpPq0GhpmlMoSUqnJIdukg_QQDJtgq"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--drive-id", default=DEFAULT_ID)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--throttle", type=float, default=0.0, help="seconds slept per 64 KiB")
    ap.add_argument(
        "--tls", type=Path, default=None, metavar="FOLDER", help="serve HTTPS; CA files here"
    )
    args = ap.parse_args(argv)
    path = args.file.resolve()
    tls = LoopbackTLS.create(args.tls) if args.tls is not None else None
    fake = FakeDrive(port=args.port, throttle=args.throttle, https=tls)
    fake.add(args.drive_id, path, name=path.name, large=True)
    fake.mirror[path.name] = path
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with fake:
        print(fake.base, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
