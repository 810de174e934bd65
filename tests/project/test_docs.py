"""The docs stay true: every option is documented, every link resolves, CI runs the README's
test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

# internals: exercises cli/app directly: behaviour the public API does not expose on its own
from lungsegdb_cli.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
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


# ---------------------------------------------------------------------------------------------
# docs/cli.md tells what the code does: env vars, error kinds, JSON keys, finding codes
# ---------------------------------------------------------------------------------------------
def _cli_md() -> str:
    return (ROOT / "docs" / "cli.md").read_text()


def _heading(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _env_vars_in_the_code() -> list[str]:
    found: set[str] = set()
    for path in (ROOT / "lungsegdb_cli").rglob("*.py"):
        found.update(re.findall(r"\bLUNGSEGDB_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return sorted(found)


@pytest.mark.parametrize("var", _env_vars_in_the_code())
def test_every_environment_variable_is_in_the_cli_reference(var: str) -> None:
    assert f"`{var}`" in _heading(_cli_md(), "Environment"), f"{var} missing from docs/cli.md"


def _error_kinds() -> list[str]:
    import importlib
    import pkgutil

    import lungsegdb_cli
    from lungsegdb_cli.errors import LungSegDBError

    for mod in pkgutil.walk_packages(lungsegdb_cli.__path__, "lungsegdb_cli."):
        if mod.name not in ("lungsegdb_cli.__main__", "lungsegdb_cli.cli.app.plot"):
            importlib.import_module(mod.name)
    kinds, todo = set(), [LungSegDBError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        kinds.add(cls.kind)
    kinds.discard(LungSegDBError.kind)  # the root: never raised itself
    return sorted(kinds | {"usage", "interrupted"})  # the funnel's own kinds


@pytest.mark.parametrize("kind", _error_kinds())
def test_every_error_kind_is_in_the_cli_reference(kind: str) -> None:
    table = _heading(_cli_md(), "JSON documents")
    assert f"| `{kind}` |" in table, f"error kind {kind} missing from docs/cli.md"


def test_the_json_schema_version_is_the_documented_one() -> None:
    from lungsegdb_cli.cli.app import JSON_SCHEMA

    section = _heading(_cli_md(), "JSON documents")
    assert f"currently `{JSON_SCHEMA}`" in section
    assert f'"schema": {JSON_SCHEMA}' in section


def test_every_validate_finding_code_is_in_the_cli_reference() -> None:
    from lungsegdb_cli.checks.validate import CODES

    section = _section(_cli_md(), "validate")
    for code in CODES:
        assert f"`{code}`" in section, f"validate finding {code} missing from docs/cli.md"


def test_verify_and_info_json_keys_are_in_the_cli_reference(tmp_path: Path) -> None:
    from lungsegdb_cli.checks import info
    from lungsegdb_cli.checks.verify import VerifyResult
    from lungsegdb_cli.dataset.paths import DataPaths

    text = _cli_md()
    verify_doc = VerifyResult(dataset_dir="d", manifest=None, archive=None).to_dict()
    section = _section(text, "verify")
    for key in [*verify_doc, *verify_doc["files"]]:
        assert f'"{key}"' in section, f"verify JSON key {key} missing from docs/cli.md"
    info_doc = info.collect(DataPaths(root=tmp_path, dataset_dir=tmp_path / "LungSegDB")).to_dict()
    section = _section(text, "info")
    for key in ["ok", "schema", *info_doc]:
        assert f'"{key}"' in section, f"info JSON key {key} missing from docs/cli.md"


def _json_blocks(text: str) -> list[object]:
    import json

    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]


def _shape(doc: object) -> object:
    """The keys of ``doc``, nested (lists by their first element)."""
    if isinstance(doc, dict):
        return {k: _shape(v) for k, v in doc.items()}
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        return [_shape(doc[0])]
    return None


def test_verify_md_json_example_has_the_real_documents_keys(tmp_path: Path) -> None:
    """docs/verify.md's ``--json`` example: the keys, at every level, of a real document."""
    import lungsegdb_cli as L

    made = L.synth(tmp_path / "s", pairs=1, fmt="zip")
    L.download(tmp_path / "d", archive=made.archive.path, sha256=made.archive.sha256)
    blocks = [
        b
        for b in _json_blocks((ROOT / "docs" / "verify.md").read_text(encoding="utf-8"))
        if isinstance(b, dict) and "files" in b
    ]
    assert len(blocks) == 1
    doc = L.verify(tmp_path / "d").to_dict()
    assert _shape(blocks[0]) == _shape({"ok": True, "schema": 1, **doc})


def test_every_hub_upload_shown_keeps_the_export_record_home() -> None:
    """The export record (``lungsegdb-export.json``) holds this machine's paths: an upload
    line of the docs (``hf upload``, ``huggingface-cli upload``) excludes it, as
    ``publish --export`` leaves it home."""
    shown = 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in doc.read_text().splitlines():
            if re.search(r"\b(hf|huggingface-cli) upload \S+/\S+ ", line):
                shown += 1
                assert "--exclude lungsegdb-export.json" in line, f"{doc.name}: {line}"
    assert shown
