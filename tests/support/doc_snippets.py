"""The code of the docs, checked: the CI snippets as files a schema checker can read, and the
python blocks run as written (:func:`run_python_blocks`).

Every fenced ``yaml`` block in ``docs/*.md`` and ``README.md`` must start with a comment naming
the file it stands for: ``# .github/workflows/NAME.yml`` (a GitHub Actions workflow) or
``# .gitlab-ci.yml`` (GitLab CI). :func:`snippets` returns them by kind; a block without such a
header is an error, so no snippet escapes the check. ``python tests/support/doc_snippets.py
OUT`` writes them to ``OUT/github-workflows/`` and ``OUT/gitlab-ci/`` (used by ``.ci/run``),
with the docs' placeholders filled in as a user would (:data:`PLACEHOLDERS`: ``<owner>``, and
``<commit-sha>`` as a full 40-digit SHA), so the schema check and zizmor see a real workflow.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GITHUB, GITLAB = "github-workflows", "gitlab-ci"
#: the placeholders of the docs and what a user puts there (any owner, a full commit SHA)
PLACEHOLDERS = {"<owner>": "owner", "<commit-sha>": "0" * 40}
_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.S | re.M)


def _kind(header: str) -> str | None:
    if re.fullmatch(r"# \.github/workflows/[\w.-]+\.ya?ml", header):
        return GITHUB
    if header == "# .gitlab-ci.yml":
        return GITLAB
    return None


def snippets(root: Path = ROOT) -> list[tuple[str, str, str]]:
    """``(kind, name, text)`` for every yaml block; ValueError for one without a header."""
    found = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for n, m in enumerate(_BLOCK.finditer(doc.read_text(encoding="utf-8"))):
            text = m.group(1)
            header = text.splitlines()[0].strip() if text.strip() else ""
            kind = _kind(header)
            if kind is None:
                raise ValueError(
                    f"{doc.name}: yaml block {n + 1} does not start with "
                    "'# .github/workflows/NAME.yml' or '# .gitlab-ci.yml'"
                )
            found.append((kind, f"{doc.stem}-{n + 1}.yml", text))
    return found


_PYTHON = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(doc: Path) -> list[str]:
    """The fenced ``python`` blocks of ``doc``, in order."""
    return [m.group(1) for m in _PYTHON.finditer(doc.read_text(encoding="utf-8"))]


def run_python_blocks(
    blocks: list[str], cwd: Path, *, replace: dict[str, str] | None = None, name: str = "doc"
) -> dict[str, object]:
    """Run ``blocks`` in order as one script (one namespace) in folder ``cwd``, as a reader
    pasting them would: ``replace`` maps text of the blocks to what it stands for here (a
    ``/tmp/`` folder to a test's own). A ``test_*`` function a block defines is then called
    with ``tmp_path`` (a fresh folder), as pytest would. Returns the namespace; an error
    names the block."""
    import os

    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    here = os.getcwd()
    os.chdir(cwd)
    try:
        for n, block in enumerate(blocks, 1):
            for old, new in (replace or {}).items():
                block = block.replace(old, new)
            before = set(namespace)
            code = compile(block, f"<{name} python block {n}>", "exec")
            exec(code, namespace)
            for key in sorted(set(namespace) - before):
                if key.startswith("test_") and callable(namespace[key]):
                    folder = Path(cwd) / f"{key}-tmp_path"
                    folder.mkdir()
                    namespace[key](tmp_path=folder)  # type: ignore[operator]
    finally:
        os.chdir(here)
    return namespace


def main(out: str) -> int:
    for kind, name, text in snippets():
        folder = Path(out) / kind
        folder.mkdir(parents=True, exist_ok=True)
        for placeholder, value in PLACEHOLDERS.items():
            text = text.replace(placeholder, value)
        (folder / name).write_text(text, encoding="utf-8")
        print(f"{kind}/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
