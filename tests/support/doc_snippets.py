"""The CI snippets of the docs, as files a schema checker can read.

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
