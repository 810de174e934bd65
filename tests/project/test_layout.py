"""The tree is the design: subpackages in layers, imports only downward, no cycles.

The layers, top first (a room imports only rooms below it, never one beside it, and always
its own modules); docs/design.md draws the same table:
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.importgraph import Edge, cycles, edges, room, upward

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lungsegdb_cli"

#: top first; rooms in one set are siblings and may not import each other
LAYERS: list[set[str]] = [
    {"__init__", "__main__"},  # the public face, ``python -m``
    {"cli"},  # parses options, prints, exits
    {"api"},  # the facade: one module per group of operations
    {"synthetic", "training"},  # synth; pairs, splits, exports, previews
    {"sources"},  # getting the archive (http, drive, fsspec), publishing
    {"archive"},  # reading archives, extracting into the tree
    {"checks"},  # manifest, verify, validate, stats, info
    {"tiff", "state"},  # decoding TIFFs; the data dir's commit protocol and records
    {"dataset"},  # what the dataset is and where it lives on disk
    {"utils"},  # foundations
    {"errors"},  # the exception tree
    {"_redact", "_version"},  # the one redaction rule; the version
]
#: the exceptions to "siblings never import each other": synth writes the defects validate finds
ALLOWED: dict[str, set[str]] = {}
#: the top folder: the face, the entry, errors, and what errors needs (and nothing else loose)
LOOSE = {"__init__.py", "__main__.py", "errors.py", "_redact.py", "_version.py"}


def _show(bad: list[Edge]) -> str:
    return "\n".join(f"{e.importer} -> {e.imported} (line {e.line})" for e in bad)


def test_no_import_cycle() -> None:
    found = cycles(edges(PACKAGE))
    assert found == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_every_import_runs_down_the_layers() -> None:
    bad = upward(edges(PACKAGE), "lungsegdb_cli", LAYERS, ALLOWED)
    assert bad == [], "imports that run up or sideways:\n" + _show(bad)


def test_no_module_below_the_face_imports_it() -> None:
    face = [
        e
        for e in edges(PACKAGE)
        if e.imported == "lungsegdb_cli" and e.importer != "lungsegdb_cli.__main__"
    ]
    assert face == [], _show(face)


def test_every_room_is_in_the_table() -> None:
    rooms = {
        room(m, "lungsegdb_cli")
        for m in {e.importer for e in edges(PACKAGE)} | {e.imported for e in edges(PACKAGE)}
    }
    assert rooms <= set().union(*LAYERS)


def test_the_top_folder_holds_the_face_and_the_rooms() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose == LOOSE
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set().union(*LAYERS) - {p.removesuffix(".py") for p in LOOSE}
    for folder in folders:
        init = PACKAGE / folder / "__init__.py"
        assert init.is_file() and "internal" in init.read_text(), f"{folder}/__init__.py"


# ---------------------------------------------------------------------------------------------
# The guard bites: a throwaway package with a cycle and with an upward import
# ---------------------------------------------------------------------------------------------
def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {
        "__init__.py": "",
        "low/__init__.py": "",
        "high/__init__.py": "",
        **files,
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_guard_finds_a_cycle(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "low/a.py": "from pkg.low import b\n",
            # an import inside a function is still an edge
            "low/b.py": "def f():\n    from pkg.low.a import x\n",
        },
    )
    assert cycles(edges(root)) == [["pkg.low.a", "pkg.low.b", "pkg.low.a"]]


def test_the_guard_finds_an_upward_import(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "high/h.py": "from pkg.low.l import x\n",
            "low/l.py": "from ..high import h\nx = 1\n",  # relative imports are resolved
        },
    )
    bad = upward(edges(root), "pkg", [{"high"}, {"low"}])
    assert [(e.importer, e.imported) for e in bad] == [("pkg.low.l", "pkg.high.h")]


def test_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "low/l.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from pkg.high import h\n",
        },
    )
    assert upward(edges(root), "pkg", [{"high"}, {"low"}]) == []


@pytest.mark.parametrize("layer", LAYERS, ids=lambda s: "+".join(sorted(s)))
def test_each_layer_is_named_in_the_design(layer: set[str]) -> None:
    design = (ROOT / "docs" / "design.md").read_text()
    for name in layer - {"__init__", "__main__", "_redact", "_version", "errors"}:
        assert f"`{name}/`" in design, f"{name}/ has no section in docs/design.md"


def test_every_module_is_named_in_the_design() -> None:
    """Each module by its path below ``lungsegdb_cli/`` (a subpackage's ``__init__.py`` by
    its folder)."""
    design = (ROOT / "docs" / "design.md").read_text()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" and path.parent != PACKAGE:
            rel = path.parent.relative_to(PACKAGE).as_posix() + "/"
        short = rel.rsplit("/", 1)[-1] if "/" in rel.rstrip("/") else rel
        if f"`{rel}`" not in design and f"`{short}`" not in design:
            missing.append(rel)
    assert missing == [], f"not in docs/design.md: {missing}"


def _internal_imports(path: Path) -> list[str]:
    """The modules below the public face that a test file imports at its top level."""
    import ast

    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lungsegdb_cli"):
            if node.module not in ("lungsegdb_cli", "lungsegdb_cli.errors"):
                found.append(node.module)
            else:
                found += [
                    f"{node.module}.{a.name}" for a in node.names if (PACKAGE / a.name).is_dir()
                ]
        elif isinstance(node, ast.Import):
            found += [
                a.name
                for a in node.names
                if a.name.startswith("lungsegdb_cli.") and a.name != "lungsegdb_cli.errors"
            ]
    return found


def test_a_test_reaching_into_internals_says_why() -> None:
    """Behaviour tests go through ``lungsegdb_cli`` (and its errors); a test file that imports
    an internal module says why in one ``# internals: ...`` line."""
    silent = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "tests").rglob("test_*.py"))
        if _internal_imports(p) and "# internals:" not in p.read_text()
    ]
    assert silent == []
