"""``progress=`` is any object with ``start(description, total, unit)``, ``advance(amount)``
and ``done()`` (docs/api.md): every operation calls exactly that, positionally and with every
argument (audit A: ``export`` called ``start`` without a unit, ``preview`` ``advance()``
without an amount, others passed ``total=``/``unit=`` by keyword, so a progress written as
documented failed with a TypeError). And a daemonic ``multiprocessing.Pool`` worker, which may
not start processes, runs the decoding operations in itself."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L


class Documented:
    """Exactly the documented protocol: no defaults, other parameter names, positional only."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def start(self, what: str, how_many: int | None, per: str, /) -> None:
        self.calls.append(("start", what, how_many, per))

    def advance(self, by: int, /) -> None:
        assert isinstance(by, int) and by >= 0
        self.calls.append(("advance", by))

    def done(self, /) -> None:
        self.calls.append(("done",))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return L.synth(tmp_path_factory.mktemp("proto") / "s", pairs=2, progress=Documented())


#: (operation, positional arguments: {d} the data dir, {t} a fresh folder; keywords)
CALLS = [
    ("download", ("{d}",), {"archive": "{a}", "force": True}),
    ("extract", ("{d}",), {"archive": "{a}", "force": True}),
    ("verify", ("{d}",), {}),
    ("validate", ("{d}",), {"use_cache": False}),
    ("stats", ("{d}",), {"use_cache": False}),
    ("export", ("nnunet", "{t}/nn", "{d}"), {"variant": "raw"}),
    ("export", ("webdataset", "{t}/wds", "{d}"), {"variant": "raw"}),
    ("preview", ("{t}/p.png", "{d}"), {"n": 2}),
    ("publish", ("{t}/pub", "{d}"), {}),
    ("clean", ("{d}",), {"dry_run": True}),
    ("synth", ("{t}/s2",), {"pairs": 1}),
]


@pytest.mark.parametrize(
    ("op", "args", "kwargs"), CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CALLS)]
)
def test_every_operation_calls_the_documented_protocol(
    made: Any, tmp_path: Path, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    data = tmp_path / "d"
    L.download(data, archive=made.archive.path)

    def fill(v: Any) -> Any:
        return v.format(d=data, t=tmp_path, a=made.archive.path) if isinstance(v, str) else v

    progress = Documented()
    result = getattr(L, op)(
        *map(fill, args), **{k: fill(v) for k, v in kwargs.items()}, progress=progress
    )
    assert result.ok, result.to_dict()
    kinds = [c[0] for c in progress.calls]
    assert "start" in kinds or op == "clean", progress.calls  # clean may have nothing to report
    assert kinds.count("start") <= kinds.count("done") or op == "clean"


def _in_a_pool_worker(data: str) -> tuple[bool, bool, int]:
    got = L.validate(data, use_cache=False), L.stats(data, use_cache=False)
    return got[0].ok, got[1].ok, multiprocessing.current_process().daemon


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_pool_worker_runs_validate_and_stats_in_itself(
    made: Any, tmp_path: Path, method: str
) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    data = tmp_path / "d"
    L.download(data, archive=made.archive.path)
    with multiprocessing.get_context(method).Pool(1) as pool:
        assert pool.apply(_in_a_pool_worker, (str(data),)) == (True, True, True)
