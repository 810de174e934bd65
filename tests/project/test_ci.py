"""CI provisioning (issue 14): the GitHub Action's and the GitLab template's shell steps run in
order on synthetic data, the CLI switches they rely on, and install instructions that work.

The action's steps are run the way a runner runs a composite action: each ``run:`` step with
``bash --noprofile --norc -eo pipefail``, its ``env:`` filled from the test's inputs and the
outputs earlier steps wrote to ``$GITHUB_OUTPUT``. Skipped, and asserted to be exactly these:
the ``uses:`` steps (actions/cache: nothing to restore in a test) and the step ``id: install``
(``pip install "$GITHUB_ACTION_PATH"``: the project is importable here through PYTHONPATH, and
a ``lungsegdb`` shim on PATH runs ``python -m lungsegdb_cli``). The archive comes from the
local Drive fake's plain mirror (``urls:``), never from the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.drive_fake import FakeDrive
from support.fakes import InterruptAt

from lungsegdb_cli import __version__

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import verify as verify_mod
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import paths as paths_mod
from lungsegdb_cli.state import provenance

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
GITLAB = ROOT / "ci" / "gitlab" / "lungsegdb.gitlab-ci.yml"
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


# ---------------------------------------------------------------------------------------------
# Running the action's steps
# ---------------------------------------------------------------------------------------------
@dataclass
class ActionRun:
    """What a run of the action's shell steps did."""

    outputs: dict[str, str]  # the action's outputs (``outputs:`` evaluated)
    steps: dict[str, dict[str, str]]  # each step's outputs
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: str | None = None  # the id of the step that failed
    code: int = 0
    stdout: str = ""
    stderr: str = ""


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def _eval(text: str, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
    """``${{ inputs.X }}`` and ``${{ steps.S.outputs.O }}`` in ``text``; anything else fails
    the test (the action must not rely on what this runner does not model)."""

    def one(m: re.Match[str]) -> str:
        expr = m.group(1)
        if (hit := re.fullmatch(r"inputs\.([\w-]+)", expr)) is not None:
            return inputs[hit.group(1)]
        if (hit := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)) is not None:
            return steps.get(hit.group(1), {}).get(hit.group(2), "")
        raise AssertionError(f"expression not modelled by the test runner: {expr}")

    return _EXPR.sub(one, str(text))


def _read_outputs(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT``: ``key=value`` lines and ``key<<DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[key] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        key, _, value = line.partition("=")
        out[key] = value
        i += 1
    return out


def _shims(bin_dir: Path) -> None:
    """``lungsegdb`` and ``python`` on PATH: this interpreter, the project via PYTHONPATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    lsdb = bin_dir / "lungsegdb"
    lsdb.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lungsegdb_cli "$@"\n')
    lsdb.chmod(0o755)
    py = bin_dir / "python"
    py.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    py.chmod(0o755)


def _base_env(tmp: Path, drive: FakeDrive) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUNGSEGDB_", "GITHUB_"))}
    _shims(tmp / "bin")
    env.update(
        PATH=f"{tmp / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        CI="true",
        RUNNER_OS="Linux",
        RUNNER_TEMP=str(tmp / "runner-temp"),
        GITHUB_WORKSPACE=str(tmp / "workspace"),
        GITHUB_ACTION_PATH=str(ROOT),
        # Anything that would go to Google Drive goes to the fake instead.
        LUNGSEGDB_DRIVE_ENDPOINT=drive.base,
    )
    (tmp / "runner-temp").mkdir(exist_ok=True)
    (tmp / "workspace").mkdir(exist_ok=True)
    return env


def run_action(tmp: Path, drive: FakeDrive, **given: str) -> ActionRun:
    """Run the action's shell steps in order with the inputs ``given`` (``data_dir`` for
    ``data-dir``, ...) over the defaults ``action.yml`` declares."""
    action = _action()
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    for key, value in given.items():
        name = key.replace("_", "-")
        assert name in inputs, f"no input {name}"
        inputs[name] = value
    env0 = _base_env(tmp, drive)
    result = ActionRun(outputs={}, steps={})
    for n, step in enumerate(action["runs"]["steps"]):
        sid = step.get("id", f"step{n}")
        if "uses" in step or sid == "install":
            result.skipped.append(sid)
            continue
        assert "if" not in step, "the test runs every run: step unconditionally"
        env = dict(env0)
        env.update({k: _eval(v, inputs, result.steps) for k, v in step.get("env", {}).items()})
        out_file = tmp / f"output-{len(list(tmp.glob('output-*')))}-{sid}"
        env["GITHUB_OUTPUT"] = str(out_file)
        script = tmp / f"{sid}.sh"
        script.write_text(step["run"], encoding="utf-8")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env=env,
            cwd=env["GITHUB_WORKSPACE"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        result.ran.append(sid)
        result.stdout += proc.stdout
        result.stderr += proc.stderr
        result.steps[sid] = _read_outputs(out_file)
        if proc.returncode != 0:
            result.failed, result.code = sid, proc.returncode
            return result
    result.outputs = {
        k: _eval(v["value"], inputs, result.steps) for k, v in action["outputs"].items()
    }
    return result


@pytest.fixture
def mirror(fake_drive: FakeDrive, synth_result: Any) -> tuple[FakeDrive, str, str]:
    """The fake serving the synthetic archive as a plain mirror: (fake, url, sha256)."""
    data = Path(synth_result.archive.path).read_bytes()
    fake_drive.mirror["LungSegDB.zip"] = data
    return fake_drive, fake_drive.mirror_url("LungSegDB.zip"), hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# The action, end to end on synth data
# ---------------------------------------------------------------------------------------------
def test_action_steps_in_order_leave_a_verified_tree_then_rerun_offline(
    tmp_path: Path, mirror: tuple[FakeDrive, str, str]
) -> None:
    drive, url, sha = mirror
    got = run_action(tmp_path, drive, sha256=sha.upper(), urls=f"\n  {url}\n", data_dir="data")
    assert got.failed is None, got.stdout + got.stderr
    assert got.ran == ["plan", "download", "verify"]
    assert got.skipped == ["install", "restore", "save"]
    data_dir = tmp_path / "workspace" / "data"  # relative data-dir: from the workspace
    assert got.outputs["data-dir"] == str(data_dir)
    assert got.outputs["tree"] == str(data_dir / "LungSegDB")
    assert got.outputs["sha256"] == sha
    plan = got.steps["plan"]
    assert plan["key"] == f"lungsegdb-v{__version__.split('.')[0]}-Linux-{sha}"
    assert plan["cache"] == "true" and plan["require-pin"] == "1"
    # A full verify (every byte) of what the action left, and the archive is gone by choice.
    result = verify_mod.verify(paths_mod.resolve(data_dir))
    assert result.ok and result.checked == 24 and result.archive is not None
    assert result.archive.discarded and not (data_dir / "downloads").exists()
    assert drive.full_downloads == 1
    # A cache hit: the same data dir again, no network, same outputs.
    again = run_action(tmp_path, drive, sha256=sha, urls=url, data_dir="data")
    assert again.failed is None, again.stdout + again.stderr
    assert again.outputs == got.outputs and drive.full_downloads == 1
    assert "already complete" in again.stdout


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "input sha256 is required"),
        ({"sha256": "  \n"}, "input sha256 is required"),
        ({"sha256": "abc"}, "input sha256 must be 64 hex digits"),
        ({"sha256": "g" * 64}, "input sha256 must be 64 hex digits"),
        ({"sha256": "0" * 64, "cache": "maybe"}, "input cache must be true or false"),
        ({"allow_unpinned": "sure"}, "input allow-unpinned must be true or false"),
    ],
)
def test_action_refuses_bad_inputs_before_any_download(
    tmp_path: Path, mirror: tuple[FakeDrive, str, str], given: dict[str, str], message: str
) -> None:
    drive, url, _ = mirror
    got = run_action(tmp_path, drive, urls=url, **given)
    assert got.failed == "plan" and got.code == 2
    assert f"::error title=lungsegdb::{message}" in got.stdout
    assert drive.seen == [] and not (tmp_path / "runner-temp" / "lungsegdb").exists()


def test_action_unpinned_when_allowed_turns_the_cache_off_and_reports_the_pin(
    tmp_path: Path, mirror: tuple[FakeDrive, str, str]
) -> None:
    drive, url, sha = mirror
    got = run_action(tmp_path, drive, urls=url, allow_unpinned="true", keep_archive="true")
    assert got.failed is None, got.stdout + got.stderr
    assert got.steps["plan"]["cache"] == "false" and got.steps["plan"]["require-pin"] == "0"
    assert got.outputs["sha256"] == sha  # what to pin next time
    data_dir = tmp_path / "runner-temp" / "lungsegdb"  # the default data dir
    assert got.outputs["data-dir"] == str(data_dir)
    assert (data_dir / "downloads" / "LungSegDB.zip").is_file()  # keep-archive: true


def test_action_yaml_is_safe_by_construction() -> None:
    """No expression inside a ``run:`` (zizmor's template injection), every ``uses:`` pinned
    by a full commit SHA, and the cache keyed on the pin and the major version."""
    action = _action()
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert "${{" not in step["run"], step.get("id")
            assert step["shell"] == "bash"
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            assert "steps.plan.outputs.cache == 'true'" in step["if"]
    assert {"sha256", "allow-unpinned", "data-dir", "urls", "cache"} <= set(action["inputs"])
    assert {"data-dir", "tree"} <= set(action["outputs"])
    assert action["inputs"]["cache"]["default"] == "true"


# ---------------------------------------------------------------------------------------------
# The GitLab template: the same steps
# ---------------------------------------------------------------------------------------------
def _gitlab_job() -> dict[str, Any]:
    return yaml.safe_load(GITLAB.read_text(encoding="utf-8"))[".lungsegdb"]


def run_gitlab(tmp: Path, drive: FakeDrive, **variables: str) -> subprocess.CompletedProcess[str]:
    """The template's ``before_script`` in one POSIX shell (as GitLab runs it), its variables
    expanded against the job's; the ``pip install`` line is skipped (asserted to be one)."""
    job = _gitlab_job()
    env = _base_env(tmp, drive)
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    env["CI_PROJECT_DIR"] = str(project)
    for key, value in job["variables"].items():
        env[key] = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), str(value))
    env.update(variables)
    lines = job["before_script"]
    installs = [line for line in lines if "pip install" in line]
    assert len(installs) == 1
    script = "set -e\n" + "\n".join(line for line in lines if line not in installs)
    return subprocess.run(
        ["sh", "-c", script], env=env, cwd=project, capture_output=True, text=True, timeout=120
    )


def test_gitlab_template_leaves_a_verified_tree_in_the_cached_folder(
    tmp_path: Path, mirror: tuple[FakeDrive, str, str]
) -> None:
    drive, url, sha = mirror
    proc = run_gitlab(tmp_path, drive, LUNGSEGDB_SHA256=sha, LUNGSEGDB_URLS=url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data_dir = tmp_path / "project" / ".lungsegdb-data"
    assert ".lungsegdb-data/" in _gitlab_job()["cache"]["paths"]
    result = verify_mod.verify(paths_mod.resolve(data_dir))
    assert result.ok and result.checked == 24 and result.archive.discarded
    major = __version__.split(".")[0]
    assert _gitlab_job()["cache"]["key"] == f"lungsegdb-v{major}-$LUNGSEGDB_SHA256"


def test_gitlab_template_refuses_unpinned_and_never_fills_the_cached_folder(
    tmp_path: Path, mirror: tuple[FakeDrive, str, str]
) -> None:
    drive, url, _ = mirror
    proc = run_gitlab(tmp_path, drive, LUNGSEGDB_SHA256="", LUNGSEGDB_URLS=url)
    assert proc.returncode == 2 and "a pin is required" in proc.stderr
    assert drive.seen == []
    allowed = run_gitlab(
        tmp_path, drive, LUNGSEGDB_SHA256="", LUNGSEGDB_URLS=url, LUNGSEGDB_REQUIRE_PIN="0"
    )
    assert allowed.returncode == 0, allowed.stderr
    assert not (tmp_path / "project" / ".lungsegdb-data").exists()
    assert (tmp_path / "project" / ".lungsegdb-unpinned" / "LungSegDB").is_dir()


# ---------------------------------------------------------------------------------------------
# The CLI switches the recipes rely on
# ---------------------------------------------------------------------------------------------
def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("how", "env"),
    [
        (["--require-pin"], {}),
        (["--require-pin", "--sha256", ""], {}),
        ([], {"LUNGSEGDB_REQUIRE_PIN": "1"}),
        ([], {"LUNGSEGDB_REQUIRE_PIN": "yes", "LUNGSEGDB_SHA256": ""}),
    ],
)
def test_require_pin_refuses_unpinned_with_exit_2_and_a_hint(
    tmp_path: Path,
    synth_result: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: list[str],
    env: dict[str, str],
) -> None:
    for key in ("LUNGSEGDB_REQUIRE_PIN", "LUNGSEGDB_SHA256"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    archive = str(synth_result.archive.path)
    code, out, _ = _cli(
        capsys, "download", "--data-dir", str(tmp_path), "--archive", archive, *how, "--json"
    )
    doc = json.loads(out)
    assert code == 2 and doc["error"]["code"] == 2
    assert "--sha256" in doc["error"]["hint"] and "LUNGSEGDB_SHA256" in doc["error"]["hint"]
    assert not (tmp_path / "LungSegDB").exists()


def test_require_pin_with_a_pin_downloads(
    tmp_path: Path,
    synth_result: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LUNGSEGDB_REQUIRE_PIN", "1")
    monkeypatch.setenv("LUNGSEGDB_SHA256", synth_result.archive.sha256)
    code, _, err = _cli(
        capsys,
        "download",
        "--data-dir",
        str(tmp_path),
        "--archive",
        str(synth_result.archive.path),
        "-q",
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("value", "code"), [("1", 3), ("true", 3), ("ON", 3), ("0", None), ("", None), ("2", 2)]
)
def test_offline_from_the_environment(
    tmp_path: Path,
    fake_drive: FakeDrive,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    code: int | None,
) -> None:
    """LUNGSEGDB_OFFLINE=1 is --offline (exit 3 with nothing here, no request); 0 or empty
    is not (the fake answers 404: exit 3 after a request); anything else is exit 2."""
    monkeypatch.setenv("LUNGSEGDB_OFFLINE", value)
    got, out, _ = _cli(
        capsys,
        "download",
        "--data-dir",
        str(tmp_path),
        "--url",
        fake_drive.mirror_url("nothing.zip"),
        "--no-drive",
        "--json",
    )
    doc = json.loads(out)
    if code is None:  # online: the fake was asked
        assert got == 3 and fake_drive.seen
    else:
        assert got == code and fake_drive.seen == []
        if code == 2:
            assert "LUNGSEGDB_OFFLINE" in doc["error"]["message"]


def test_no_keep_archive_discards_after_a_verified_extract(
    tmp_path: Path, mirror: tuple[FakeDrive, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    drive, url, sha = mirror
    data = str(tmp_path / "d")
    code, out, _ = _cli(
        capsys,
        "download",
        "--data-dir",
        data,
        "--url",
        url,
        "--sha256",
        sha,
        "--no-keep-archive",
        "--json",
    )
    doc = json.loads(out)
    assert code == 0 and doc["archive_kept"] is False and doc["archive"]["sha256"] == sha
    assert not (tmp_path / "d" / "downloads").exists()
    record = provenance.read(tmp_path / "d" / ".lungsegdb" / "provenance.json")
    assert record is not None and record["kept"] is False and record["sha256"] == sha
    for quick in ([], ["--quick"]):
        code, out, _ = _cli(capsys, "verify", "--data-dir", data, "--sha256", sha, "--json", *quick)
        doc = json.loads(out)
        assert code == 0 and doc["ok"] is True and doc["files"]["checked"] == 24
        arch = doc["archive"]
        assert {"path", "sha256", "expected", "ok"} <= arch.keys()
        assert arch["discarded"] is True and arch["ok"] is True and arch["present"] is False
    code, out, _ = _cli(capsys, "verify", "--data-dir", data)
    assert code == 0 and "archive: discarded" in out
    # Re-run on the intact tree: no network, done; the pin still decides.
    code, out, _ = _cli(
        capsys,
        "download",
        "--data-dir",
        data,
        "--url",
        url,
        "--sha256",
        sha,
        "--no-keep-archive",
        "--json",
    )
    assert code == 0 and json.loads(out)["action"] == "up-to-date" and drive.full_downloads == 1
    code, out, _ = _cli(capsys, "verify", "--data-dir", data, "--sha256", "0" * 64, "--json")
    assert code == 1 and json.loads(out)["archive"]["ok"] is False


def test_no_keep_archive_never_deletes_a_users_file_and_refuses_no_extract(
    tmp_path: Path, synth_result: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = Path(synth_result.archive.path)
    data = str(tmp_path / "d")
    code, out, _ = _cli(
        capsys,
        "download",
        "--data-dir",
        data,
        "--archive",
        str(archive),
        "--no-keep-archive",
        "--json",
    )
    assert code == 0 and archive.is_file() and json.loads(out)["archive_kept"] is True
    code, out, _ = _cli(
        capsys, "download", "--data-dir", data, "--no-extract", "--no-keep-archive", "--json"
    )
    assert code == 2 and "--no-extract" in json.loads(out)["error"]["message"]


def test_shell_completion_is_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "_LUNGSEGDB_COMPLETE": "complete_bash",
        "COMP_WORDS": "lungsegdb download --no-k",
        "COMP_CWORD": "2",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "lungsegdb_cli"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.split() == ["--no-keep-archive"]
    code, out, _ = _cli(capsys, "--help")
    assert code == 0 and "--install-completion" in out


# ---------------------------------------------------------------------------------------------
# Install instructions that work
# ---------------------------------------------------------------------------------------------
_DIST = re.compile(r"lungsegdb-cli(\[[\w,]*\])?")


def _texts() -> list[Path]:
    files = [ROOT / "README.md", ACTION, GITLAB, *sorted((ROOT / "docs").glob("*.md"))]
    return files + sorted((ROOT / "lungsegdb_cli").rglob("*.py"))


def bare_index_installs(text: str) -> list[str]:
    """``pip install lungsegdb-cli`` (with or without extras or quotes) not followed by
    ``@ <url>``: a package-index name, and lungsegdb-cli is on no index."""
    bad = []
    for line in text.splitlines():
        if "pip install" not in line:
            continue
        for m in _DIST.finditer(line):
            rest = line[m.end() :].lstrip("'\"` ")
            if not rest.startswith("@"):
                bad.append(line.strip())
    return bad


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        ("pip install lungsegdb-cli", True),
        ("pip install 'lungsegdb-cli[plot]'", True),
        ('- run: pip install "lungsegdb-cli"', True),
        ('pip install "lungsegdb-cli @ git+https://github.com/<owner>/lungsegdb@v0.1.0"', False),
        ("pip install 'lungsegdb-cli[plot] @ git+https://github.com/<owner>/lungsegdb@v1'", False),
        ("pip install '.[plot]'", False),
        ("Distribution lungsegdb-cli", False),
    ],
)
def test_bare_index_install_detector(line: str, bad: bool) -> None:
    assert bool(bare_index_installs(line)) is bad


def test_no_doc_or_hint_installs_from_a_package_index() -> None:
    found = {
        str(p.relative_to(ROOT)): bare_index_installs(p.read_text(encoding="utf-8"))
        for p in _texts()
    }
    assert {k: v for k, v in found.items() if v} == {}


def test_every_yaml_block_of_the_docs_is_a_checked_snippet_using_real_inputs() -> None:
    """Each yaml block names its file (so .ci/run schema-checks it), and the workflow's use of
    the action passes only inputs action.yml declares."""
    from support.doc_snippets import GITHUB, GITLAB, snippets

    found = snippets()
    kinds = {kind for kind, _, _ in found}
    assert kinds == {GITHUB, GITLAB}
    inputs = set(_action()["inputs"])
    uses = []
    for kind, _, text in found:
        if kind != GITHUB:
            continue
        for job in yaml.safe_load(text)["jobs"].values():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("<owner>/lungsegdb@"):
                    uses.append(step)
                    assert set(step.get("with", {})) <= inputs
    assert uses and all("sha256" in step["with"] for step in uses)


# ---------------------------------------------------------------------------------------------
# --no-keep-archive is one commit: interrupted at any step, the old state or the new one
# ---------------------------------------------------------------------------------------------
def _state(root: Path) -> tuple[bool, bool]:
    """(archive file present, record says discarded)."""
    rec = provenance.Provenance.read(root / ".lungsegdb" / "provenance.json")
    assert rec is not None
    return (root / "downloads" / "LungSegDB.zip").is_file(), rec.discarded


def test_discarding_interrupted_at_every_step_leaves_the_old_or_the_new_state(
    tmp_path: Path, mirror: tuple[FakeDrive, str, str]
) -> None:
    import shutil

    from lungsegdb_cli.state import commit

    drive, url, sha = mirror
    base = tmp_path / "base"
    assert run(["download", "--data-dir", str(base), "--url", url, "--sha256", sha, "-q"]) == 0
    assert _state(base) == (True, False)
    argv = ["download", "--url", url, "--sha256", sha, "--no-keep-archive", "-q"]
    points: list[str] = []
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    commit.set_hook(points.append)
    try:
        assert run([*argv, "--data-dir", str(probe)]) == 0
    finally:
        commit.set_hook(None)
    assert "discard staged" in points and "journal written" in points

    try:
        for n, point in enumerate(points, start=1):
            root = tmp_path / f"int-{n}"
            shutil.copytree(base, root)
            commit.set_hook(InterruptAt(n))
            code = run([*argv, "--data-dir", str(root)])
            commit.set_hook(None)
            after = points.index("journal written") < n
            assert code in ((0, 130) if after else (130,)), f"step {n} ({point}): {code}"
            assert _state(root) == ((False, True) if after else (True, False)), point
            # The next run finishes the job, without network, and the tree verifies.
            assert run([*argv, "--data-dir", str(root)]) == 0
            assert _state(root) == (False, True)
            assert verify_mod.verify(paths_mod.resolve(root)).ok
    finally:
        commit.set_hook(None)
    assert drive.full_downloads == 1  # only the first download of the base used the network
