"""Data-root resolution: --data-dir > LUNGSEGDB_HOME > user cache dir; no dirs created."""

from __future__ import annotations

from pathlib import Path

import pytest

# internals: exercises dataset directly: behaviour the public API does not expose on its own
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.errors import UsageError


def test_explicit_data_dir_wins_over_env(tmp_path: Path) -> None:
    env = {"LUNGSEGDB_HOME": str(tmp_path / "env"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    p = paths.resolve(tmp_path / "cli", env)
    assert p.root == tmp_path / "cli"
    assert p.dataset_dir == tmp_path / "cli" / "LungSegDB"


def test_env_home_wins_over_cache_dir(tmp_path: Path) -> None:
    env = {"LUNGSEGDB_HOME": str(tmp_path / "env"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert paths.resolve(None, env).root == tmp_path / "env"


def test_default_is_xdg_cache_dir(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    p = paths.resolve(None, env)
    assert p.root == tmp_path / "xdg" / "lungsegdb"
    assert p.manifest == tmp_path / "xdg" / "lungsegdb" / "LungSegDB.sha256"


def test_default_without_xdg_is_home_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    p = paths.resolve(None, {})
    assert p.root.name == "lungsegdb"
    assert "cache" in str(p.root).lower()


def test_resolution_creates_nothing(tmp_path: Path) -> None:
    p = paths.resolve(tmp_path / "new", {})
    _ = (p.manifest, p.state_dir, p.lock, p.cache_dir, p.downloads_dir, p.provenance)
    assert not (tmp_path / "new").exists()


def test_data_dir_pointing_at_the_tree_itself(tmp_path: Path) -> None:
    tree = tmp_path / "LungSegDB"
    (tree / "raw data" / "V1" / "CT_Images").mkdir(parents=True)
    p = paths.resolve(tree, {})
    assert p.dataset_dir == tree
    assert p.manifest == tmp_path / "LungSegDB.sha256"


def test_data_dir_at_any_folder_laid_out_like_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "my_copy"
    (tree / "Preprocessed_Data" / "V2" / "images").mkdir(parents=True)
    assert paths.resolve(tree, {}).dataset_dir == tree


@pytest.mark.parametrize(
    "folders, tree",
    [
        (["raw"], False),  # a project's data/raw: a variant's first word, nothing under it
        (["raw/V1"], False),  # no leaf folder
        (["preprocessed/notes", "processed"], False),
        (["Raw Data/v1/CT Masks"], True),  # a leaf, however spelt
        (["preprocessed data/V2/CT_Images"], True),
    ],
)
def test_a_tree_is_a_folder_holding_a_leaf_folder(
    tmp_path: Path, folders: list[str], tree: bool
) -> None:
    folder = tmp_path / "data"
    for rel in folders:
        (folder / rel).mkdir(parents=True)
    assert paths.looks_like_tree(folder) is tree
    assert (paths.resolve(folder, {}).dataset_dir == folder) is tree


def test_a_writer_takes_a_folder_for_the_tree_only_if_lungsegdb_wrote_it(tmp_path: Path) -> None:
    tree = tmp_path / "proj"
    (tree / "raw data" / "V1" / "CT_Images").mkdir(parents=True)
    assert paths.resolve(tree, {}).dataset_dir == tree  # a reader reads it
    assert paths.resolve(tree, {}, writing=True).dataset_dir == tree / "LungSegDB"
    (tmp_path / "proj.sha256").write_text("")  # its manifest beside it: lungsegdb's tree
    assert paths.resolve(tree, {}, writing=True).dataset_dir == tree


def test_must_exist_rejects_missing_explicit_dir(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        paths.resolve(tmp_path / "nope", {}, must_exist=True)
    assert "does not exist" in info.value.message


def test_data_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UsageError):
        paths.resolve(f, {})


@pytest.mark.parametrize("value", ["", " ", "\t", "  \n"])
def test_an_empty_or_blank_data_dir_is_a_usage_error(tmp_path: Path, value: str) -> None:
    """``--data-dir ""`` (an unset variable) names neither the current folder nor the default."""
    env = {"LUNGSEGDB_HOME": str(tmp_path / "env"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    with pytest.raises(UsageError, match="an unset variable") as info:
        paths.resolve(value, env)
    assert int(info.value.exit_code) == 2


class _Fspath:
    """An ``os.PathLike`` that is not a ``Path``: ``str()`` of it is its repr, not the path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return self.path


@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_os_pathlike_data_dir_is_a_usage_error(tmp_path: Path, value: str) -> None:
    """The empty check reads the path an ``os.PathLike`` names, not its ``str()`` (its repr):
    an empty one named the current folder."""
    env = {"LUNGSEGDB_HOME": str(tmp_path / "env"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    with pytest.raises(UsageError, match="an unset variable"):
        paths.resolve(_Fspath(value), env)


def test_an_empty_lungsegdb_home_still_means_unset(tmp_path: Path) -> None:
    env = {"LUNGSEGDB_HOME": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert paths.resolve(None, env).root == tmp_path / "xdg" / "lungsegdb"
