"""A writer never takes a folder of the user's for the tree it replaces (audit K, 1).

``download`` and ``extract`` replace the tree folder wholesale at their commit. A data dir
holding a project's own ``raw/`` or ``preprocessed/`` folder (the common
``data/{raw,processed}`` layout), or a tree the user unzipped by hand beside their own files,
used to be taken for the tree itself: the commit replaced the whole folder and the user's files
with it, exit 0. Now a folder is a tree only if it holds a leaf folder of the documented layout
(``<variant>/<version>/<kind>``), and a writer takes it for the tree only if lungsegdb wrote it
(its manifest beside it); any other folder is a data root, the tree going to ``<it>/LungSegDB``.
Readers still accept a hand-unzipped tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from support.ct import write_ct_tree

import lungsegdb_cli as L


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _write(how: str, data: Path, archive: Path) -> Any:
    if how == "download":
        return L.download(data, archive=archive)
    return L.extract(data, archive=archive)


@pytest.mark.parametrize("how", ["download", "extract"])
@pytest.mark.parametrize("name", ["raw", "raw_data", "Raw Data", "preprocessed"])
def test_a_project_folder_named_like_a_variant_is_left_alone(
    how: str, name: str, synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / name).mkdir(parents=True)
    (data / name / "scan_001.csv").write_text("id,value\n1,2\n")
    (data / "processed").mkdir()
    (data / "processed" / "features.npy").write_bytes(b"\x93NUMPY" + bytes(range(64)))
    (data / "README.md").write_text("my project\n")
    mine = _files(data)

    result = _write(how, data, Path(synth_result.archive.path))

    assert result.dataset_dir == data / "LungSegDB"
    after = _files(data)
    assert {k: after.get(k) for k in mine} == mine  # every file of the user's, unchanged
    assert not (tmp_path / "data.sha256").exists()  # nothing written into the parent


@pytest.mark.parametrize("how", ["download", "extract"])
def test_a_tree_unzipped_by_hand_beside_the_users_files_is_not_replaced(
    how: str, synth_result: Any, tmp_path: Path
) -> None:
    """A hand-unzipped tree (no manifest, no state) is the user's: a writer makes its own
    ``LungSegDB/`` in it; a reader still reads the hand-unzipped tree."""
    proj = tmp_path / "proj"
    tree = write_ct_tree(tmp_path / "unzipped", ["1", "2"])
    shutil.move(str(tree), str(proj))
    (proj / "train.py").write_text("print('train')\n")
    (proj / "results").mkdir()
    (proj / "results" / "run1.json").write_text("{}\n")
    mine = _files(proj)
    assert L.validate(proj).pairs > 0  # a reader takes it for the tree

    result = _write(how, proj, Path(synth_result.archive.path))

    assert result.dataset_dir == proj / "LungSegDB"
    after = _files(proj)
    assert {k: after.get(k) for k in mine} == mine


def test_a_writer_given_the_tree_it_made_still_works_on_it(
    synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    L.download(data, archive=synth_result.archive.path)
    again = L.download(data / "LungSegDB", archive=synth_result.archive.path)
    assert again.dataset_dir == data / "LungSegDB"
    assert not (data / "LungSegDB" / "LungSegDB").exists()
    assert L.verify(data).ok


def test_pairdataset_download_refuses_to_replace_a_tree_it_did_not_write(
    synth_result: Any, tmp_path: Path
) -> None:
    """``PairDataset(folder, download=True)`` on a hand-unzipped tree that is not intact (no
    manifest): the download would replace the folder, so it is a UsageError, nothing read."""
    proj = tmp_path / "proj"
    shutil.move(str(write_ct_tree(tmp_path / "unzipped", ["1"])), str(proj))
    (proj / "notes.md").write_text("mine\n")
    mine = _files(proj)
    with pytest.raises(L.UsageError) as info:
        L.PairDataset(proj, download=True, urls=[synth_result.archive.path], drive=False)
    assert info.value.exit_code == 2 and "did not write" in info.value.message
    assert _files(proj) == mine
    assert len(L.PairDataset(proj, variant="all")) > 0  # read as it is


def _hand_unzipped(root: Path, extra: dict[str, str]) -> Path:
    """``root/LungSegDB`` as a user unzipped it by hand (no manifest), plus ``extra`` files."""
    tree = write_ct_tree(root, ["1", "2"])
    for rel, text in extra.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    return tree


@pytest.mark.parametrize("how", ["download", "extract"])
@pytest.mark.parametrize(
    "extra", ["my-notes.md", "raw data/V1/train.py", "raw data/V1/CT_Images/labels.csv"]
)
def test_a_tree_without_manifest_holding_the_users_files_is_not_replaced(
    how: str, extra: str, synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    tree = _hand_unzipped(data, {extra: "mine\n"})
    mine = _files(tree)
    with pytest.raises(L.UsageError) as info:
        _write(how, data, Path(synth_result.archive.path))
    assert info.value.exit_code == 2 and extra in info.value.message
    assert _files(tree) == mine
    assert not (data / "LungSegDB.sha256").exists()


@pytest.mark.parametrize("how", ["download", "extract"])
def test_a_tree_without_manifest_holding_only_slices_is_replaced(
    how: str, synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _hand_unzipped(data, {"raw data/V1/CT_Images/.DS_Store": "junk"})  # OS junk is no file of yours
    result = _write(how, data, Path(synth_result.archive.path))
    assert result.dataset_dir == data / "LungSegDB" and L.verify(data).ok


@pytest.mark.parametrize("how", ["extract", "download"])
def test_the_tree_given_as_the_data_dir_with_its_manifest_deleted_is_repaired_in_place(
    how: str, synth_result: Any, tmp_path: Path
) -> None:
    """Audit H5, 1: ``--data-dir d/LungSegDB`` whose manifest was deleted is still the tree
    lungsegdb wrote (its data root's record): repaired in place, not nested inside."""
    data = tmp_path / "d"
    L.download(data, archive=synth_result.archive.path)
    (data / "LungSegDB.sha256").unlink()
    tree = data / "LungSegDB"
    if how == "extract":
        got = L.extract(tree, force=True)
    else:
        got = L.download(tree, archive=synth_result.archive.path)
    assert got.dataset_dir == tree and not (tree / "LungSegDB").exists()
    assert not (tree / ".lungsegdb").exists() and L.verify(data).ok


# ---------------------------------------------------------------------------------------------
# Audit H6: the rules above, reviewed
# ---------------------------------------------------------------------------------------------
def _unzipped(synth_result: Any, into: Path) -> Path:
    """The synth archive unzipped by hand into ``into`` (its members start ``LungSegDB/``)."""
    import zipfile

    with zipfile.ZipFile(synth_result.archive.path) as zf:
        zf.extractall(into)
    return into


def test_a_hand_unzipped_tree_under_a_wrapper_folder_is_replaced(
    synth_result: Any, tmp_path: Path
) -> None:
    """H6 2: ``LungSegDB/LungSegDB/raw data/...`` (docs/extract.md step 4 accepts a wrapper):
    the dataset's own slices are the dataset's."""
    data = tmp_path / "data"
    _unzipped(synth_result, data / "LungSegDB")
    assert (data / "LungSegDB" / "LungSegDB" / "raw data").is_dir()
    for how in ("download", "extract"):
        got = _write(how, data, Path(synth_result.archive.path))
        assert got.dataset_dir == data / "LungSegDB" and L.verify(data).ok


@pytest.mark.parametrize("how", ["download", "extract"])
@pytest.mark.parametrize("mine", ["99.TIF", "1_pred.tif"])
def test_a_slice_of_the_users_in_a_hand_unzipped_tree_is_not_deleted(
    how: str, mine: str, synth_result: Any, tmp_path: Path
) -> None:
    """H6 3: a TIFF the archive does not hold, in a leaf folder of a tree without manifest
    (a prediction, a slice added by hand), is the user's: refused, exit 2, named."""
    data = tmp_path / "data"
    tree = _unzipped(synth_result, data) / "LungSegDB"
    added = tree / "raw data" / "V1" / "CT_Masks" / mine
    added.write_bytes(b"II*\x00mine")
    with pytest.raises(L.UsageError) as info:
        _write(how, data, Path(synth_result.archive.path))
    assert info.value.exit_code == 2 and mine in info.value.message
    assert added.read_bytes() == b"II*\x00mine"


def test_a_link_to_the_tree_given_as_the_data_dir_writes_into_the_tree_it_names(
    synth_result: Any, tmp_path: Path
) -> None:
    """H6 1: ``--data-dir L``, L a symlink to the LungSegDB folder lungsegdb wrote: the tree
    it names is the one written (no second tree, manifest or state inside it)."""
    data = tmp_path / "d"
    L.download(data, archive=synth_result.archive.path)
    link = tmp_path / "L"
    link.symlink_to(data / "LungSegDB")
    got = L.download(link, archive=synth_result.archive.path, force=True)
    assert got.dataset_dir == data / "LungSegDB"
    assert not (data / "LungSegDB" / ".lungsegdb").exists()
    assert not (data / "LungSegDB" / "LungSegDB").exists()
    assert L.verify(data).ok


def test_a_tree_extract_made_with_its_manifest_deleted_is_repaired_in_place(
    synth_result: Any, tmp_path: Path
) -> None:
    """H6 9: ``extract --archive`` records no provenance; its manifest's sizes record marks
    the tree as lungsegdb's all the same."""
    data = tmp_path / "d"
    L.extract(data, archive=synth_result.archive.path)
    (data / "LungSegDB.sha256").unlink()
    got = L.extract(data / "LungSegDB", archive=synth_result.archive.path, force=True)
    assert got.dataset_dir == data / "LungSegDB"
    assert not (data / "LungSegDB" / "LungSegDB").exists() and L.verify(data).ok


def test_an_archive_in_the_target_of_a_linked_tree_is_not_in_the_way(
    synth_result: Any, tmp_path: Path
) -> None:
    """H6 7: the tree is a symlink: the commit replaces the link, never its target, so an
    archive lying in the target is not inside the tree it would replace."""
    data = tmp_path / "d"
    L.download(data, archive=synth_result.archive.path)
    real = tmp_path / "real"
    shutil.move(str(data / "LungSegDB"), str(real))
    (data / "LungSegDB").symlink_to(real)
    mine = real / "my-archive.zip"
    shutil.copyfile(synth_result.archive.path, mine)
    got = L.download(data, archive=mine, force=True)
    assert got.files and mine.is_file() and not (data / "LungSegDB").is_symlink()


# ---------------------------------------------------------------------------------------------
# Audit H7: the rules above, reviewed again
# ---------------------------------------------------------------------------------------------
def _tar_gz(synth_result: Any, tmp_path: Path) -> Path:
    """The synth tree as a tar.gz (streamed: no plan before its members are read)."""
    import tarfile

    out = tmp_path / "LungSegDB.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        tf.add(synth_result.tree, arcname="LungSegDB")
    return out


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
@pytest.mark.parametrize("how", ["download", "extract"])
@pytest.mark.parametrize(
    "mine",
    [
        "raw data/V1/CT_Masks/99.TIF",  # a slice the archive does not hold (H7 2: tar.gz too)
        "predictions/raw data/V1/CT_Masks/1.TIF",  # a copy of the layout (H7 1)
    ],
)
def test_the_users_slices_in_a_hand_unzipped_tree_are_never_deleted(
    fmt: str, how: str, mine: str, synth_result: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    tree = _unzipped(synth_result, data) / "LungSegDB"
    added = tree / mine
    added.parent.mkdir(parents=True, exist_ok=True)
    added.write_bytes(b"II*\x00mine")
    archive = Path(synth_result.archive.path) if fmt == "zip" else _tar_gz(synth_result, tmp_path)
    with pytest.raises(L.UsageError) as info:
        _write(how, data, archive)
    assert info.value.exit_code == 2 and mine in info.value.message
    assert added.read_bytes() == b"II*\x00mine"
    assert not (data / "LungSegDB.sha256").exists()


def test_slices_renamed_in_case_only_are_the_datasets(synth_result: Any, tmp_path: Path) -> None:
    """H7 4: ``1.TIF`` renamed ``1.tif`` is the same slice: not refused."""
    data = tmp_path / "data"
    leaf = _unzipped(synth_result, data) / "LungSegDB" / "raw data" / "V1" / "CT_Images"
    (leaf / "1.TIF").rename(leaf / "1.tif")
    assert L.extract(data, archive=synth_result.archive.path).files


def test_a_reader_given_a_link_to_the_tree_reads_the_tree_it_names(
    synth_result: Any, tmp_path: Path
) -> None:
    """H7 3: verify and croissant through ``--data-dir L`` (L a link to lungsegdb's tree)."""
    data = tmp_path / "d"
    L.download(data, archive=synth_result.archive.path, sha256=synth_result.archive.sha256)
    link = tmp_path / "L"
    link.symlink_to(data / "LungSegDB")
    assert L.verify(link).ok
    assert L.croissant(link).pairs


def test_a_symlink_loop_as_the_data_dir_is_no_traceback(synth_result: Any, tmp_path: Path) -> None:
    """H7 7: a data dir that is a symlink loop: a LungSegDBError, not RuntimeError."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for run in (L.download, L.extract):
        with pytest.raises(L.LungSegDBError):
            run(loop, archive=synth_result.archive.path)
