"""``state/parts``: what a data dir holds part by part, and the space each takes; and what
recovery would delete (``commit.debris``), listed before it is deleted."""

from __future__ import annotations

import os
from pathlib import Path

# internals: state/parts and state/commit are the layer under test (the parts and their sizes)
import lungsegdb_cli as L
from lungsegdb_cli.dataset.paths import resolve
from lungsegdb_cli.state import commit, parts, rejected


def test_space_sums_every_part_and_the_total(tmp_path: Path) -> None:
    made = L.synth(tmp_path / "s", pairs=1)
    root = tmp_path / "data"
    L.download(root, url=Path(made.archive.path).as_uri())
    p = resolve(root)
    (p.downloads_dir / "url-0123456789ab.part").write_bytes(b"p" * 10)
    (p.downloads_dir / "y.rejected").write_bytes(b"r" * 20)
    rejected.note(p, p.downloads_dir / "y.rejected")  # moved aside by download: the tool's
    (root / ".LungSegDB.staging-1-ab").mkdir()
    (root / ".LungSegDB.staging-1-ab" / "f").write_bytes(b"s" * 30)
    p.cache_dir.mkdir()
    (p.cache_dir / "decode-LungSegDB.json.gz").write_bytes(b"c" * 40)
    space = parts.space(p)
    tree = sum(f.stat().st_size for f in p.dataset_dir.rglob("*") if f.is_file())
    assert space["tree"] == tree == made.bytes
    assert space["kept-archive"] == os.path.getsize(made.archive.path)
    assert (
        space["partial-download"],
        space["rejected-download"],
        space["stale-staging"],
        space["decode-cache"],
    ) == (10, 20, 30, 40)
    assert space["manifest"] == p.manifest.stat().st_size + p.manifest_sizes.stat().st_size
    state = sum(f.stat().st_size for f in p.state_dir.rglob("*") if f.is_file())
    assert space["state"] == state - 40 - p.manifest_sizes.stat().st_size
    assert space["total"] == sum(v for k, v in space.items() if k != "total")


def test_debris_is_what_clean_debris_deletes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    p = resolve(root)
    p.state_dir.mkdir(parents=True)
    (root / "LungSegDB").mkdir()
    for name in (".LungSegDB.staging-1-ab", ".LungSegDB.old-2-cd"):
        (root / name).mkdir()
    (p.state_dir / ".provenance.json.x.tmp").write_text("t")
    # a manifest moved aside by an old version, its place empty: put back, not deleted
    (root / ".LungSegDB.sha256.old-3-ef").write_text("manifest")
    # an export to <root>/out moved its old export aside: the export's, never touched here
    (root / ".out.old-4-ab").mkdir()
    (root / ".out.staging-4-ab").mkdir()
    listed = sorted(x.name for x in commit.debris(p))
    assert listed == [".LungSegDB.old-2-cd", ".LungSegDB.staging-1-ab", ".provenance.json.x.tmp"]
    done = commit.clean_debris(p)
    assert sorted(done) == sorted([*listed, ".LungSegDB.sha256.old-3-ef -> LungSegDB.sha256"])
    assert (root / "LungSegDB.sha256").read_text() == "manifest" and commit.debris(p) == []
    assert (root / ".out.old-4-ab").is_dir() and (root / ".out.staging-4-ab").is_dir()
    assert not (root / "out").exists()
