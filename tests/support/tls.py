"""A throwaway certificate authority for serving HTTPS on loopback (tests and benchmarks).

:class:`LoopbackTLS` makes a CA with ``trustme`` (in memory: nothing is written to the repo
and nothing is trusted system-wide), issues a server certificate for ``127.0.0.1``,
``localhost`` and ``::1``, and writes a CA bundle a client can be pointed at: our CA *plus*
the bundle the machine already uses (``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``, if set), so
setting ``REQUESTS_CA_BUNDLE`` to it keeps every other host working too. ``requests`` (and so
``lungsegdb download`` and ``gdown``) honours ``REQUESTS_CA_BUNDLE``::

    tls = LoopbackTLS.create(tmp_path)
    with FakeDrive(https=tls) as fake:       # https://127.0.0.1:PORT
        env = {**os.environ, **tls.client_env()}
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

#: The environment variables that name the machine's CA bundle, in the order they are tried.
BUNDLE_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def machine_bundle() -> Path | None:
    """The CA bundle the machine's clients already use (the first of :data:`BUNDLE_VARS` that
    names a file), or None."""
    for var in BUNDLE_VARS:
        value = os.environ.get(var)
        if value and Path(value).is_file():
            return Path(value)
    return None


@dataclass(frozen=True)
class LoopbackTLS:
    """A CA bundle (``ca_bundle``: our CA + the machine's bundle) and the server's certificate
    chain and key (``cert_chain``, ``key``) as PEM files under one folder."""

    ca_bundle: Path
    ca_only: Path
    cert_chain: Path
    key: Path

    @classmethod
    def create(cls, folder: Path) -> LoopbackTLS:
        """A fresh CA and a server certificate for loopback, written under ``folder``."""
        import trustme

        folder.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="lungsegdb test CA")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        ca_only = folder / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_only))
        extra = machine_bundle()
        bundle = folder / "ca-bundle.pem"
        text = ca_only.read_bytes()
        if extra is not None:
            text = extra.read_bytes().rstrip(b"\n") + b"\n" + text
        bundle.write_bytes(text)
        chain = folder / "server-chain.pem"
        chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        key = folder / "server-key.pem"
        cert.private_key_pem.write_to_path(str(key))
        return cls(ca_bundle=bundle, ca_only=ca_only, cert_chain=chain, key=key)

    def server_context(self) -> ssl.SSLContext:
        """The context a server wraps its listening socket with."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert_chain), str(self.key))
        return ctx

    def client_env(self) -> dict[str, str]:
        """Environment that makes ``requests`` (ours and gdown's) trust the server."""
        return {"REQUESTS_CA_BUNDLE": str(self.ca_bundle)}
