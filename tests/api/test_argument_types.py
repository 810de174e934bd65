"""A path or text argument of the wrong type is a ``UsageError`` (exit 2) naming it, from
every operation the package exports -- never the ``AttributeError`` or ``TypeError`` it
would raise further down (``download()`` already did this; now all do, from their
signatures). Audit A added: flags (``strict="false"`` was taken for True), a path whose
``__fspath__`` gives bytes, a call that does not fit the signature, a ``progress`` that is
not one, ``PairDataset``'s and ``load_pair``'s own arguments, and ``request=``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    made = L.synth(tmp_path_factory.mktemp("types") / "s", pairs=1, like_kaggle=True)
    root = tmp_path_factory.mktemp("types") / "d"
    L.download(root, archive=made.archive.path)
    return root


#: (operation, positional arguments with {d} for the data dir, keywords, the argument named)
CASES = [
    ("verify", (123,), {}, "data_dir"),
    ("info", (4.5,), {}, "data_dir"),
    ("verify", ("{d}",), {"sha256": 123}, "sha256"),
    ("stats", ("{d}",), {"variant": 1}, "variant"),
    ("stats", ("{d}",), {"version": 2}, "version"),
    ("pairs", ("{d}",), {"variant": ["raw"]}, "variant"),
    ("split", ("{d}",), {"group_by": 5}, "group_by"),
    ("synth", ("{d}/synth",), {"wrap": 1}, "wrap"),
    ("export", ("csv", 1, "{d}"), {}, "out"),
    ("croissant", ("{d}",), {"out": 1}, "out"),
    ("stats", ("{d}",), {"csv": 123}, "csv"),
    ("publish", (1, "{d}"), {}, "dest"),
    ("extract", ("{d}",), {"archive": 5}, "archive"),
    ("check_export", (7,), {}, "out"),
]


def test_the_dataset_class_refuses_them_too(data: Path) -> None:
    with pytest.raises(L.UsageError, match="variant must be a string"):
        L.PairDataset(data, variant=1)


def test_every_operation_with_a_path_or_text_argument_is_checked() -> None:
    """The check comes from the signatures: each exported operation has one."""
    # internals: the annotation reader the boundary applies
    from lungsegdb_cli.utils.arguments import argument_kinds as _argument_kinds

    checked = [
        n
        for n in L.__all__
        if inspect.isfunction(getattr(L, n))
        and _argument_kinds(
            getattr(L, n).__wrapped__ if hasattr(getattr(L, n), "__wrapped__") else getattr(L, n)
        )
    ]
    assert {"download", "verify", "stats", "export", "publish", "synth"} <= set(checked)


def test_the_dataset_class_refuses_a_data_dir_or_source_of_another_type(data: Path) -> None:
    with pytest.raises(L.UsageError, match="data_dir must be a path"):
        L.PairDataset(123)
    with pytest.raises(L.UsageError, match="urls must be a list"):
        L.PairDataset(data, variant="raw", download=True, urls=[1], drive=False)


def test_a_path_is_a_source_for_both_doors(tmp_path: Path) -> None:
    """``urls=[Path(...)]``: a local archive, through download() and PairDataset alike."""
    made = L.synth(tmp_path / "s", pairs=1)
    got = L.download(tmp_path / "a", urls=[Path(made.archive.path)], drive=False)
    assert got.files == made.files
    ds = L.PairDataset(
        tmp_path / "b", download=True, urls=[Path(made.archive.path)], drive=False, variant="raw"
    )
    assert len(ds) == 2 and ds.downloaded is not None


def test_the_dataset_class_maps_an_os_error_as_the_operations_do(tmp_path: Path) -> None:
    """A data dir whose name is too long: the LocalError (exit 5) info() gives, not a raw
    OSError."""
    long = tmp_path / ("x" * 300)
    with pytest.raises(L.LocalError) as info:
        L.info(long)
    with pytest.raises(L.LocalError) as same:
        L.PairDataset(long)
    assert same.value.exit_code == info.value.exit_code == 5


class _BytesPath:
    """An ``os.PathLike`` whose ``__fspath__`` gives bytes: not a path the API takes."""

    def __fspath__(self) -> bytes:
        return b"/tmp/x"


#: (operation, positional arguments with {d} for the data dir, keywords, the argument named)
MORE = [
    # a flag given as text or None is not read by its truthiness
    ("validate", ("{d}",), {"strict": "false"}, "strict"),
    ("download", ("{d}",), {"offline": "false"}, "offline"),
    ("download", ("{d}",), {"force": "no"}, "force"),
    ("clean", ("{d}",), {"dry_run": None}, "dry_run"),
    ("verify", ("{d}",), {"quick": 2}, "quick"),
    ("verify", ("{d}",), {"quick": 1.0}, "quick"),
    # a path whose __fspath__ gives bytes
    ("info", (_BytesPath(),), {}, "data_dir"),
    ("stats", ("{d}",), {"csv": _BytesPath()}, "csv"),
    # a progress without start/advance/done
    ("verify", ("{d}",), {"progress": 1}, "progress"),
    ("stats", ("{d}",), {"progress": print}, "progress"),
    # a call that does not fit the signature
    ("verify", ("{d}",), {"quik": True}, "quik"),
    ("verify", ("{d}", "abc"), {}, "positional"),
    # download's whole request of another type
    ("download", ("{d}",), {"request": {"url": "x"}}, "request"),
]


ALL_CASES = [*CASES, *MORE]


@pytest.mark.parametrize(
    ("op", "args", "kwargs", "named"),
    ALL_CASES,
    ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(ALL_CASES)],
)
def test_a_wrongly_typed_argument_is_a_usage_error_naming_it(
    data: Path, op: str, args: tuple[Any, ...], kwargs: dict[str, Any], named: str
) -> None:
    """Also flags, paths whose __fspath__ gives bytes, progress, and the call itself."""
    args = tuple(a.format(d=data) if isinstance(a, str) else a for a in args)
    with pytest.raises(L.UsageError) as info:
        getattr(L, op)(*args, **kwargs)
    assert info.value.exit_code == 2 and named in info.value.message, info.value.message


def test_a_flag_that_is_a_bool_still_runs(data: Path) -> None:
    import numpy as np

    assert L.validate(data, strict=False).ok
    assert L.validate(data, strict=np.False_).ok  # a flag read from an array: a flag too
    assert L.verify(data, quick=1).ok and L.verify(data, quick=np.int64(0)).ok  # 0 and 1 too
    assert L.clean(data, dry_run=True).ok
    # DownloadRequest.build takes None where download() does (offline, require_pin: not asked)
    # internals: the request the command line builds, built here as a library user may
    from lungsegdb_cli.sources.request import DownloadRequest

    built = DownloadRequest.build(offline=None, require_pin=None, force=np.True_)
    assert (built.offline, built.force) == (False, True)


def test_url_may_be_a_path_as_urls_items_may(data: Path, tmp_path: Path) -> None:
    made = L.synth(tmp_path / "s", pairs=1)
    got = L.download(tmp_path / "d", url=Path(made.archive.path))
    assert got.action == "downloaded" and got.source.url.endswith("LungSegDB.zip")


#: (keywords of PairDataset beside the data dir, what the UsageError says)
DATASET = [
    ({"variant": "raw\0"}, "NUL byte"),
    ({"variant": "raw", "transform": 1}, "transform must be callable"),
    ({"variant": "raw", "download": "yes"}, "download must be True or False"),
    ({"variant": "raw", "progress": 3}, "progress must be an object with start"),
    ({"variant": "raw", "shuffle": True}, "unexpected keyword argument 'shuffle'"),
]


@pytest.mark.parametrize(("kw", "says"), DATASET, ids=[d[1].split()[0] for d in DATASET])
def test_the_dataset_class_checks_its_arguments_as_the_operations_do(
    data: Path, kw: dict[str, Any], says: str
) -> None:
    with pytest.raises(L.UsageError, match=says) as info:
        L.PairDataset(data, **kw)
    assert info.value.exit_code == 2


def test_the_dataset_takes_a_slice_and_numpy_indices(data: Path) -> None:
    import numpy as np

    ds = L.PairDataset(data, variant="raw")
    assert len(ds) >= 2
    both = ds[0:2]
    assert [s["stem"] for s in both] == [ds[0]["stem"], ds[1]["stem"]]
    assert ds[np.int64(-1)]["stem"] == ds[len(ds) - 1]["stem"] and ds[5:5] == []
    with pytest.raises(IndexError):
        ds[len(ds)]


#: (what load_pair is given instead, what the UsageError says)
LOAD = [
    (lambda p: (p.to_dict(),), {}, "wants a Pair, not dict"),
    (lambda p: (str(p.image),), {}, "wants a Pair, not str"),
    (lambda p: (p,), {"max_pixels": 0}, "max_pixels must be a whole number"),
    (lambda p: (p,), {"max_pixels": float("nan")}, "max_pixels must be a whole number"),
    (lambda p: (p,), {"max_pixels": "100"}, "max_pixels must be a whole number"),
    (lambda p: (p,), {"max_pixels": True}, "max_pixels must be a whole number"),
]


def test_load_pair_takes_a_numpy_whole_number_as_its_limit(data: Path) -> None:
    import numpy as np

    image, mask = L.load_pair(L.pairs(data, variant="raw")[0], max_pixels=np.int64(10**8))
    assert image.ndim >= 2 and mask.dtype == np.uint8


@pytest.mark.parametrize(("args", "kw", "says"), LOAD, ids=[f"load-{i}" for i in range(len(LOAD))])
def test_load_pair_checks_its_arguments(
    data: Path, args: Any, kw: dict[str, Any], says: str
) -> None:
    pair = L.pairs(data, variant="raw")[0]
    with pytest.raises(L.UsageError, match=says) as info:
        L.load_pair(*args(pair), **kw)
    assert info.value.exit_code == 2
