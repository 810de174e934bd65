"""Files the user names as outputs (``--csv``, ``--out``, ``--plot``, ``OUT``): a FIFO or a
character device there is written into, never replaced; a block device or a socket is
refused (exit 2); a new file gets the umask's permissions, a replaced one keeps its own."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

# internals: the CLI's run() as the commands' way in, and the write helpers at their unit
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.utils.fsutil import atomic_write_bytes, check_output_file, write_output


def linked(tmp_path: Path, tree_dir: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "LungSegDB").symlink_to(tree_dir, target_is_directory=True)
    return root


def _drain(fifo: Path, got: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


OUTPUTS = [
    ("stats --csv", ["stats", "--csv"], b"variant,version,stem"),
    ("pairs --csv", ["pairs", "--csv"], b"stem"),
    ("split --out", ["split", "--out"], b'"schema"'),
    ("preview", ["preview"], b"\x89PNG"),
    ("stats --plot", ["stats", "--plot"], b"\x89PNG"),
]


@pytest.mark.parametrize(("argv", "head"), [o[1:] for o in OUTPUTS], ids=[o[0] for o in OUTPUTS])
def test_a_fifo_output_is_written_into_not_replaced(
    tmp_path: Path, synth_tree: Path, argv: list[str], head: bytes
) -> None:
    root = linked(tmp_path, synth_tree)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _drain(fifo, got)
    assert run([*argv, str(fifo), "--data-dir", str(root), "--quiet"]) == 0
    reader.join(30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the user's FIFO
    assert got and head in got[0][:200]


@pytest.mark.parametrize(
    ("minor", "code"), [(3, 0), (7, 5)], ids=["a /dev/null of our own", "a /dev/full: disk full"]
)
def test_a_character_device_output_stays_a_device(
    tmp_path: Path, synth_tree: Path, minor: int, code: int
) -> None:
    node = tmp_path / "dev"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("mknod needs root")
    root = linked(tmp_path, synth_tree)
    assert run(["stats", "--csv", str(node), "--data-dir", str(root), "--quiet"]) == code
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(UsageError, match="is a socket, not a file"):
            check_output_file(path, "--csv", "stats.csv")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_block_device_is_refused(tmp_path: Path) -> None:
    node = tmp_path / "disk"
    try:
        os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(7, 250))  # never opened
    except PermissionError:
        pytest.skip("mknod needs root")
    with pytest.raises(UsageError, match="is a block device, not a file"):
        check_output_file(node, "--out", "splits.json")


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_umask_permissions(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_output(tmp_path / "new.csv", b"a\n")
        atomic_write_bytes(tmp_path / "state.json", b"{}")
    finally:
        os.umask(old)
    for name in ("new.csv", "state.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_bytes(b"old\n")
    path.chmod(0o640)
    write_output(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temp file left


def test_a_link_to_a_file_stays_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real.csv"
    target.write_bytes(b"old\n")
    link = tmp_path / "out.csv"
    link.symlink_to(target)
    write_output(link, b"new\n")
    assert link.is_symlink() and target.read_bytes() == b"new\n"


def _cli(args: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUNGSEGDB_")}
    return subprocess.run(
        [sys.executable, "-m", "lungsegdb_cli", *args], env=env, timeout=120, check=False, **kw
    )


def test_dev_stdout_is_this_process_stdout_at_its_offset(tmp_path: Path, synth_tree: Path) -> None:
    """``--csv /dev/stdout > out``: the CSV, then the summary, both in ``out`` (reopening
    /dev/stdout started at offset 0, under the summary; a root run replaced the link)."""
    root = linked(tmp_path, synth_tree)
    out = tmp_path / "out"
    with open(out, "wb") as sink:
        proc = _cli(["stats", "--csv", "/dev/stdout", "--data-dir", str(root), "-q"], stdout=sink)
    assert proc.returncode == 0
    text = out.read_text()
    assert text.startswith("variant,version,stem,")
    assert "Normalisation constants" in text  # the summary, after the CSV
    assert os.path.islink("/dev/stdout")


def test_a_reader_that_leaves_dev_stdout_is_141(tmp_path: Path, synth_tree: Path) -> None:
    root = linked(tmp_path, synth_tree)
    args = ["stats", "--csv", "/dev/stdout", "--data-dir", str(root), "-q"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lungsegdb_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("LUNGSEGDB_")},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # like `| head -c 10`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert b"Traceback" not in err
