"""docs/training.md runs as written: its ``lungsegdb`` shell lines up to the MONAI block
(``synth /tmp/lsdb-train``, ``validate``, ``split``, ``export nnunet``, ``export monai
/tmp/lsdb-monai``), each exit 0, then its python blocks (MONAI's datalist and transforms,
torch's DataLoader over PairDataset) on the state they leave, with the doc's ``/tmp/``
standing for this test's own folder. (The ``nnUNetv2_*`` lines are nnU-Net's own:
test_frameworks_handoff runs its planner.)

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


def _shell_lines(text: str, before: str) -> list[str]:
    """The ``lungsegdb`` and ``export`` lines of the bash blocks that come before ``before``."""
    lines = []
    for block in _BASH.findall(text[: text.index(before)]):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith(("lungsegdb ", "export ")):
                lines.append(line)
    return lines


def _run_shell(lines: list[str], tmp: Path) -> None:
    """Each line as the shell would: ``export A=B`` sets a variable, ``lungsegdb ...`` runs the
    command (exit 0 expected) with ``$A`` / ``"$A"`` expanded and ``/tmp/`` made ``tmp``."""
    env: dict[str, str] = {}
    for line in lines:
        line = line.replace("/tmp/", f"{tmp}/")
        line = re.sub(r'"?\$(\w+)"?', lambda m: shlex.quote(env[m.group(1)]), line)
        words = shlex.split(line)
        if words[0] == "export":
            env.update(w.split("=", 1) for w in words[1:])
            continue
        assert run(words[1:]) == 0, line


def test_docs_training_md_runs_as_written(tmp_path: Path) -> None:
    text = TRAINING.read_text(encoding="utf-8")
    lines = _shell_lines(text, "```python")
    assert lines[0].startswith("lungsegdb synth /tmp/lsdb-train")
    assert any(x.startswith("lungsegdb export monai /tmp/lsdb-monai") for x in lines)
    _run_shell(lines, tmp_path)
    blocks = python_blocks(TRAINING)
    assert len(blocks) == 2  # MONAI, then torch
    namespace = run_python_blocks(
        blocks, tmp_path, replace={"/tmp/": f"{tmp_path}/"}, name="docs/training.md"
    )
    train = namespace["train"]
    assert len(train) == len(L.pairs(tmp_path / "lsdb-train", split="train", variant="raw"))
    images, masks = namespace["images"], namespace["masks"]  # the loop's last batch
    assert images.shape[1:] == (1, 256, 256) and masks.shape[1:] == (1, 256, 256)
    assert L.check_export(tmp_path / "nnUNet_raw").ok  # what section 4 checks
