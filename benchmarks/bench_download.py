"""Benchmark ``lungsegdb download`` against ``gdown`` (and the by-hand pipeline) over loopback.

The archive is ``fixtures.synth_archive(scale)`` (scale 1.0: 955,680,334 bytes, i.e. 0.96 GB /
0.89 GiB -- a little under the 1 GB the issue asks for; it is used as is). It is served over
**HTTPS**, as Drive is, by ``benchmarks/serve.py --tls`` (the Drive fake of the tests, with a
throwaway CA from ``tests/support/tls.py``; plain HTTP on loopback hid the cost of reading one
~16 KiB TLS record at a time) in a child process on 127.0.0.1. Both sides trust the CA through
``REQUESTS_CA_BUNDLE`` (the bundle also holds the machine's CAs). Every round starts from an
empty target folder (``sync`` first). The table's CPU column is user + system time of the
client (the server's share is the same for both sides).

* fetch + hash: ``lungsegdb download --url URL --no-extract`` (SHA-256 while streaming, no
  MD5 without ``--md5``, provenance, one ``syncfs`` at the commit) vs ``gdown -q URL -O x.zip``
  (no hashing, no sync). Target ratio <= 1.1.
* report only: the same with ``LUNGSEGDB_SYNC=0`` (what the durable commit costs), and with
  ``--md5 HEX`` (what MD5 costs).
* whole download: ``lungsegdb download --url URL`` (fetch, hash, extract, per-file SHA-256
  manifest) vs ``bash -c 'gdown -q URL -O a.zip && sha256sum a.zip && unzip -q a.zip -d D'``.
  Target ratio <= 0.5.
* report only: the same fetch through the Drive flow (``/uc`` -> 303 -> virus-scan form ->
  bytes, via ``LUNGSEGDB_DRIVE_ENDPOINT``) vs ``gdown`` from the mirror path.

Needs ``unzip`` (Debian: ``apt-get install -y unzip``).

Run standalone: ``python benchmarks/bench_download.py --scale 0.1 --rounds 3``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures import synth_archive  # noqa: E402
from harness import Comparison, Side, fresh, need_unzip  # noqa: E402

_SERVERS: list[subprocess.Popen[str]] = []


def _stop_servers() -> None:
    for proc in _SERVERS:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


atexit.register(_stop_servers)


def start_server(archive: Path, tls: Path | None = None) -> str:
    """Start ``serve.py`` for ``archive`` in a child process (HTTPS with ``tls``, the folder
    its CA files go to); return its base URL."""
    extra = ["--tls", str(tls)] if tls is not None else []
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "serve.py"), str(archive), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    _SERVERS.append(proc)
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith(("http://", "https://")):
        raise RuntimeError(f"serve.py did not start (got {line!r})")
    return line


def _gdown_side(gdown: str, url: str, folder: Path, env: dict[str, str]) -> Side:
    """The by-hand side every comparison here shares: ``gdown -q URL -O folder/x.zip``."""
    return Side(
        "gdown -q", [gdown, "-q", url, "-O", str(folder / "x.zip")], setup=fresh(folder), env=env
    )


def comparisons(work: Path, scale: float) -> list[Comparison]:
    unzip = need_unzip("bench_download")
    gdown = shutil.which("gdown") or str(Path(sys.executable).with_name("gdown"))
    archive = synth_archive(scale, "zip")
    tls = work / "tls"
    base = start_server(archive, tls)
    url = f"{base}/mirror/{archive.name}"
    ours_cmd = [sys.executable, "-m", "lungsegdb_cli", "download", "--url", url, "--quiet"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUNGSEGDB_")}
    env["REQUESTS_CA_BUNDLE"] = str(tls / "ca-bundle.pem")

    a_ours, a_theirs = work / "a-ours", work / "a-gdown"
    fetch_cmp = Comparison(
        "download --no-extract vs gdown",
        Side(
            "lungsegdb download --no-extract",
            [*ours_cmd, "--no-extract", "--data-dir", str(a_ours)],
            setup=fresh(a_ours),
            env=env,
        ),
        _gdown_side(gdown, url, a_theirs, env),
        max_ratio=1.1,
    )

    b_ours, b_theirs = work / "b-ours", work / "b-hand"
    pipeline = (
        f"{gdown} -q '{url}' -O '{b_theirs}/a.zip' && sha256sum '{b_theirs}/a.zip' "
        f"&& {unzip} -q '{b_theirs}/a.zip' -d '{b_theirs}/D'"
    )
    whole_cmp = Comparison(
        "download vs gdown+sha256sum+unzip",
        Side(
            "lungsegdb download",
            [*ours_cmd, "--data-dir", str(b_ours)],
            setup=fresh(b_ours),
            env=env,
        ),
        Side(
            "gdown && sha256sum && unzip -q",
            ["bash", "-c", pipeline],
            setup=fresh(b_theirs),
            env=env,
        ),
        max_ratio=0.5,
    )

    c_ours, c_theirs = work / "c-ours", work / "c-gdown"
    drive_env = {**env, "LUNGSEGDB_DRIVE_ENDPOINT": base}
    drive_cmp = Comparison(
        "Drive flow --no-extract vs gdown (report)",
        Side(
            "lungsegdb download (Drive flow) --no-extract",
            [
                sys.executable,
                "-m",
                "lungsegdb_cli",
                "download",
                "--no-extract",
                "--quiet",
                "--data-dir",
                str(c_ours),
            ],
            setup=fresh(c_ours),
            env=drive_env,
        ),
        _gdown_side(gdown, url, c_theirs, env),
    )
    d_ours, d_theirs = work / "d-ours", work / "d-gdown"
    nosync_cmp = Comparison(
        "--no-extract SYNC=0 vs gdown (report)",
        Side(
            "lungsegdb download --no-extract (LUNGSEGDB_SYNC=0)",
            [*ours_cmd, "--no-extract", "--data-dir", str(d_ours)],
            setup=fresh(d_ours),
            env={**env, "LUNGSEGDB_SYNC": "0"},
        ),
        _gdown_side(gdown, url, d_theirs, env),
    )
    e_ours, e_theirs = work / "e-ours", work / "e-gdown"
    md5_cmp = Comparison(
        "--no-extract --md5 vs gdown (report)",
        Side(
            "lungsegdb download --no-extract --md5 HEX",
            [*ours_cmd, "--no-extract", "--md5", _md5(archive), "--data-dir", str(e_ours)],
            setup=fresh(e_ours),
            env=env,
        ),
        _gdown_side(gdown, url, e_theirs, env),
    )
    return [fetch_cmp, nosync_cmp, md5_cmp, whole_cmp, drive_cmp]


def _md5(path: Path) -> str:
    """The MD5 of ``path`` (what Drive reports as ``md5Checksum``), computed once, untimed."""
    import hashlib

    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


if __name__ == "__main__":
    from run import main

    sys.exit(main(["--only", "download", *sys.argv[1:]]))
