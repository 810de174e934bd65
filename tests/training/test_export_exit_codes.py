"""``split`` and ``export`` exit codes at the edges: a manifest that is not a file is the data
failing a check (exit 1, ``manifest-corrupt``, as ``verify`` says), a write the machine refuses
is the local machine refusing (exit 5), never the data's fault."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lungsegdb_cli as L

# internals: exercises cli/app, state/crashpoints, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.state.crashpoints import ENV_CRASH_AT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth tree (2 pairs per group, splits in force). Read-only: copy it to change it."""
    made = L.synth(tmp_path_factory.mktemp("exit-codes") / "s", pairs=2, seed=0, fmt="none")
    L.split(made.tree, seed=0)
    return Path(made.tree)


@pytest.mark.parametrize("command", ["split", "export"])
def test_a_fifo_manifest_is_a_corrupt_manifest(
    tree: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "data"
    shutil.copytree(tree.parent, root)
    (root / "LungSegDB.sha256").unlink(missing_ok=True)
    os.mkfifo(root / "LungSegDB.sha256")
    argv = [command, "--data-dir", str(root), "--json"]
    if command == "export":
        argv[1:1] = ["csv", str(tmp_path / "out")]
    assert run(argv) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["kind"] == "manifest-corrupt" and "LungSegDB.sha256" in err["message"]
    assert not (tmp_path / "out").exists()


def _small_file_limit() -> None:  # runs in the child: no file over 64 KiB may be written
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))


def test_a_full_disk_is_the_local_machine_refusing(tree: Path, tmp_path: Path) -> None:
    """Copies that the file system refuses (a file size limit, as a full disk would) are
    exit 5 naming the file, not exit 1 blaming the data; OUT is left as it was."""
    big = max(p.stat().st_size for p in tree.rglob("*.TIF"))
    assert big > 64 << 10, "the synth images must be larger than the limit"
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUNGSEGDB_SYNC": "0"}
    env.pop(ENV_CRASH_AT, None)
    cmd = [
        sys.executable,
        "-m",
        "lungsegdb_cli",
        "export",
        "folders",
        str(out),
        "--link",
        "copy",
        "--data-dir",
        str(tree),
        "--json",
    ]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=120, preexec_fn=_small_file_limit
    )
    assert proc.returncode == 5, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["code"] == 5 and err["kind"] in ("local-failure", "disk-full")
    assert "File too large" in err["message"] and "Traceback" not in proc.stderr
    assert not out.exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".out.")] == []
