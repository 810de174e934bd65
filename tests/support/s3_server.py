"""A real S3-compatible server on 127.0.0.1 for tests: moto's standalone server.

:func:`start` returns a running :class:`S3Server` (its ``endpoint``; ``stop()``). Tests point
the AWS client chain at it with :meth:`S3Server.environ` (fake credentials, the endpoint as
``AWS_ENDPOINT_URL``): the code under test finds it the way it finds MinIO or Ceph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the fake credentials (the secret is asserted to appear nowhere in outputs or files)
ACCESS_KEY = "AKIALUNGSEGDBTESTKEY"
SECRET_KEY = "lungsegdb-test-secret-7f3a9c1e5b"


@dataclass
class S3Server:
    server: Any
    endpoint: str

    def environ(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def stop(self) -> None:
        self.server.stop()


def start() -> S3Server:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server._server.server_address[:2]
    return S3Server(server, f"http://{host}:{port}")
