"""The docs stay true: every option is documented, every link resolves, CI runs the README's
test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from lungsegdb_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
COMMAND = typer.main.get_command(app)


def _section(text: str, command: str) -> str:
    start = text.index(f"## `lungsegdb {command}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


@pytest.mark.parametrize("name", sorted(COMMAND.commands))  # type: ignore[attr-defined]
def test_every_option_is_in_the_cli_reference(name: str) -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    section = _section(text, name)
    common = {"--data-dir", "--json", "--quiet", "--debug", "--help"}
    for param in COMMAND.commands[name].params:  # type: ignore[attr-defined]
        for opt in param.opts:
            if opt.startswith("--") and opt not in common:
                assert f"`{opt}" in section, f"{name} {opt} missing from docs/cli.md"


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)
    assert len(blocks) == 2
    test_cmd = blocks[1].strip().split("&&")[-1].strip()
    assert test_cmd.startswith("python -m pytest")
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(p.name for p in (ROOT / "docs").glob("*.md"))]
)
def test_relative_links_resolve(doc: str) -> None:
    path = ROOT / doc if doc == "README.md" else ROOT / "docs" / doc
    for target in re.findall(r"\]\(([^)#\s]+)", path.read_text()):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{doc} links to missing {target}"
