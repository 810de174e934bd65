"""A download never replaces or deletes a file of the user's (audit K, 2-6 and 11).

* an archive given with ``--archive`` that lies inside the tree the download would replace is
  refused (exit 2), as ``extract`` refuses it -- it used to go with the old tree (2);
* a local source (a path or ``file://`` URL) inside the tree or in ``downloads/`` is refused
  (exit 2): the fetch copied the file onto itself, recorded it as fetched, and ``clean`` or
  ``--no-keep-archive`` then deleted the only copy (3);
* a file in ``downloads/`` that is not the tool's own kept archive (the user's ``--archive``
  file, or one it has no record of) is never written over: the fetched archive is kept as
  ``<name> (2).zip`` (4);
* a folder where the manifest goes is refused (exit 5), as a file where the tree goes is: the
  commit moved it aside and deleted it with the user's files (5);
* ``croissant`` does not vouch for a tree with files added after extraction (6);
* ``extract`` after the archive was discarded says so and names the command that works (11).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L


def _copy(synth_result: Any, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(synth_result.archive.path, to)
    return to


@pytest.mark.parametrize("force", [False, True])
def test_an_archive_given_inside_the_tree_is_refused(
    force: bool, synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    if force:
        L.download(data, archive=synth_result.archive.path)
    mine = _copy(synth_result, data / "LungSegDB" / "my-archive.zip")
    with pytest.raises(L.UsageError) as info:
        L.download(data, archive=mine, force=force)
    assert info.value.exit_code == 2 and "inside the tree" in info.value.message
    assert mine.read_bytes() == Path(synth_result.archive.path).read_bytes()


@pytest.mark.parametrize("where", ["downloads", "tree"])
@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_local_source_where_the_download_writes_is_refused(
    where: str, form: str, synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    folder = data / "downloads" if where == "downloads" else data / "LungSegDB"
    mine = _copy(synth_result, folder / "LungSegDB.zip")
    url = str(mine) if form == "path" else mine.as_uri()
    with pytest.raises(L.UsageError) as info:
        L.download(data, urls=[url], drive=False)
    assert info.value.exit_code == 2
    hint = "--archive" if where == "downloads" else "out of the LungSegDB folder"
    assert hint in info.value.hint
    assert mine.read_bytes() == Path(synth_result.archive.path).read_bytes()
    assert not (data / ".lungsegdb" / "provenance.json").exists()


def test_a_local_source_elsewhere_is_still_copied_and_the_copy_is_the_tools(
    synth_result: Any, tmp_path: Path
) -> None:
    mine = _copy(synth_result, tmp_path / "elsewhere" / "LungSegDB.zip")
    data = tmp_path / "data"
    got = L.download(data, urls=[str(mine)], drive=False, keep_archive=False)
    assert got.files and not got.archive_kept and mine.is_file()


def test_a_later_download_never_writes_over_the_users_archive_in_downloads(
    synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    mine = _copy(synth_result, data / "downloads" / "LungSegDB.zip")
    L.download(data, archive=mine)
    other = L.synth(tmp_path / "other", pairs=1, seed=7)
    source = _copy(other, tmp_path / "mirror" / "LungSegDB.zip")
    assert source.read_bytes() != mine.read_bytes()

    got = L.download(data, urls=[str(source)], drive=False, force=True)

    assert mine.read_bytes() == Path(synth_result.archive.path).read_bytes()
    assert got.archive.path == data / "downloads" / "LungSegDB (2).zip"
    assert got.archive.path.read_bytes() == source.read_bytes()
    assert L.verify(data).ok
    # the archive's own name is recorded: what croissant publishes is the same on any machine
    # (audit H6, 8)
    assert L.croissant(data).archive.name == "LungSegDB.zip"
    L.clean(data)  # the fetched copy is the tool's to delete; the user's file stays
    assert mine.is_file() and not got.archive.path.exists()


def test_a_folder_where_the_manifest_goes_is_refused(synth_result: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "LungSegDB.sha256").mkdir(parents=True)
    (data / "LungSegDB.sha256" / "thesis.tex").write_text("precious\n")
    for run in (L.download, L.extract):
        with pytest.raises(L.LocalError) as info:
            run(data, archive=synth_result.archive.path)
        assert info.value.exit_code == 5 and "is a folder" in info.value.message
    assert (data / "LungSegDB.sha256" / "thesis.tex").read_text() == "precious\n"
    assert not (data / "LungSegDB").exists()


def test_croissant_does_not_vouch_for_files_added_to_the_tree(
    synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    L.download(data, archive=synth_result.archive.path, sha256=synth_result.archive.sha256)
    L.croissant(data, out=tmp_path / "before.json")  # vouched for as extracted
    leaf = data / "LungSegDB" / "raw data" / "V1"
    shutil.copyfile(leaf / "CT_Images" / "1.TIF", leaf / "CT_Images" / "99.TIF")
    shutil.copyfile(leaf / "CT_Masks" / "1.TIF", leaf / "CT_Masks" / "99.TIF")
    assert not L.verify(data, quick=True).ok
    with pytest.raises(L.CheckFailed) as info:
        L.croissant(data, out=tmp_path / "after.json")
    assert info.value.exit_code == 1 and "2 not in it" in info.value.message
    assert not (tmp_path / "after.json").exists()


def test_extract_after_the_archive_was_discarded_names_download_force(
    synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    L.download(data, urls=[synth_result.archive.path], drive=False)
    L.clean(data)
    with pytest.raises(L.UsageError) as info:
        L.extract(data, force=True)
    assert "discarded" in info.value.message
    assert "download --force" in info.value.hint


def test_a_local_source_in_downloads_is_refused_without_extraction_too(
    synth_result: Any, tmp_path: Path
) -> None:
    """Audit H6 5: ``--no-extract`` copied it beside itself as ``X (2).zip``."""
    data = tmp_path / "data"
    mine = _copy(synth_result, data / "downloads" / "LungSegDB.zip")
    with pytest.raises(L.UsageError):
        L.download(data, urls=[str(mine)], drive=False, extract=False)
    assert sorted(p.name for p in mine.parent.iterdir()) == ["LungSegDB.zip"]


def test_info_counts_no_archive_in_a_folder_lungsegdb_never_used(tmp_path: Path) -> None:
    """Audit H6 4: the single file in ``downloads/`` is the archive extract took only where
    something was extracted; elsewhere it is just a file (a video), not a kept archive."""
    folder = tmp_path / "home"
    (folder / "downloads").mkdir(parents=True)
    (folder / "downloads" / "talk.mp4").write_bytes(b"\x00" * 4096)
    assert L.info(folder).space["kept-archive"] == 0
