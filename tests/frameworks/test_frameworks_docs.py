"""docs/training.md runs as written: its ``lungsegdb`` shell lines up to the MONAI block
(``synth /tmp/lsdb-train``, ``validate``, ``split``, ``export nnunet``, ``export monai
/tmp/lsdb-monai``), each exit 0, then its python blocks (MONAI's datalist and transforms,
torch's DataLoader over PairDataset) on the state they leave, with the doc's ``/tmp/``
standing for this test's own folder; then the later sections' shell lines (``export hf``,
``export webdataset``, the croissant tour) and their python blocks (``datasets``,
``webdataset``, ``mlcroissant``). (The ``nnUNetv2_*`` lines are nnU-Net's own:
test_frameworks_handoff runs its planner. Two blocks are sketches of another machine's set-up
and are not run: ``PairDataset(..., download=True, sha256="<pin>")`` needs the real archive's
pin and Drive, and the multi-node block reads from an S3 bucket under ``torchrun``; the
``publish s3://`` line that fills that bucket is skipped with them.)

Marked ``frameworks``: run with ``.[frameworks]`` (``pytest -m frameworks``), like the rest of
tests/frameworks.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from support.doc_snippets import python_blocks, run_python_blocks

import lungsegdb_cli as L

# internals: the CLI's in-process entry, to run the doc's shell lines as typed
from lungsegdb_cli.cli.app import run

pytestmark = pytest.mark.frameworks

TRAINING = Path(__file__).resolve().parents[2] / "docs" / "training.md"
_BASH = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def _shell_lines(text: str, before: str, after: str = "") -> list[str]:
    """The ``lungsegdb`` and ``export`` lines of the bash blocks between ``after`` (the start
    when empty) and ``before``."""
    lines = []
    start = text.index(after) if after else 0
    for block in _BASH.findall(text[start : text.index(before, start)]):
        for line in block.splitlines():
            line = re.split(r"\s+#", line, maxsplit=1)[0].strip()  # a comment, as bash
            if line.startswith(("lungsegdb ", "export ")):
                lines.append(line)
    return lines


def _run_shell(lines: list[str], tmp: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Each line as the shell would: ``export A=B`` sets a variable, ``lungsegdb ...`` runs the
    command (exit 0 expected) with ``$A`` / ``"$A"`` expanded and ``/tmp/`` made ``tmp``."""
    env = {} if env is None else env
    for line in lines:
        line = line.replace("/tmp/", f"{tmp}/")
        line = re.sub(r'"?\$(\w+)"?', lambda m: shlex.quote(env[m.group(1)]), line)
        words = shlex.split(line)
        if words[0] == "export":
            env.update(w.split("=", 1) for w in words[1:])
            continue
        assert run(words[1:]) == 0, line
    return env


def test_docs_training_md_runs_as_written(tmp_path: Path) -> None:
    text = TRAINING.read_text(encoding="utf-8")
    lines = _shell_lines(text, "```python")
    assert lines[0].startswith("lungsegdb synth /tmp/lsdb-train")
    assert any(x.startswith("lungsegdb export monai /tmp/lsdb-monai") for x in lines)
    env = _run_shell(lines, tmp_path)
    blocks = python_blocks(TRAINING)
    assert len(blocks) == 7
    monai, torch_loop, sketch_download, hf, wds, sketch_nodes, croissant = blocks
    assert 'download=True, sha256="<pin>"' in sketch_download and "s3://" in sketch_nodes
    namespace = run_python_blocks(
        [monai, torch_loop], tmp_path, replace={"/tmp/": f"{tmp_path}/"}, name="docs/training.md"
    )
    train = namespace["train"]
    assert len(train) == len(L.pairs(tmp_path / "lsdb-train", split="train", variant="raw"))
    images, masks = namespace["images"], namespace["masks"]  # the loop's last batch
    assert images.shape[1:] == (1, 256, 256) and masks.shape[1:] == (1, 256, 256)
    assert L.check_export(tmp_path / "lsdb-nnunet").ok  # what section 4 checks

    # the packed formats and Croissant: their sections' shell lines, then their blocks
    later = _shell_lines(text, "## 3", after="## 2e")
    _run_shell([x for x in later if "s3://" not in x], tmp_path, env)

    def run_block(block: str, section: str) -> dict[str, object]:
        return run_python_blocks(
            [block],
            tmp_path,
            replace={"/tmp/": f"{tmp_path}/"},
            name=f"docs/training.md ({section})",
        )

    raw_train = L.pairs(env["D"], split="train", variant="raw")
    assert len(run_block(hf, "hf")["ds"]["train"]) == len(raw_train)  # type: ignore[index]
    every_train = L.pairs(env["D"], split="train")
    shards = run_block(wds, "webdataset")["train"]
    assert sum(1 for _ in shards) == len(every_train)  # type: ignore[attr-defined]
    last = run_block(croissant, "croissant")["record"]
    assert last["pairs/stem"]  # type: ignore[index]  # the croissant loop ran
