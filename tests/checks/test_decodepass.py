"""checks/decodepass.py: each group is handed over as soon as its files are decoded."""

from __future__ import annotations

# internals: the decode pass's per-group callback (checks/decodepass) is not public API
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from lungsegdb_cli.checks import decodepass, scancache
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset import paths, tree

#: Pairs per group: more than a chunk, so a group's files span chunks on the pool.
PAIRS = decodepass.CHUNK // 2 + 7


def _tree(root: Path) -> None:
    """Every group with PAIRS pairs: int16 HU slices padded far below air, 0/255 masks."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    outside = (yy - 15.5) ** 2 + (xx - 15.5) ** 2 > 15**2
    for g in dataset.GROUPS:
        images = root / g.variant / g.version / dataset.IMAGES_DIR
        masks = root / g.variant / g.version / dataset.MASKS_DIR
        images.mkdir(parents=True)
        masks.mkdir(parents=True)
        for i in range(PAIRS):
            ct = rng.integers(-1000, 3000, size=(32, 32), dtype=np.int16)
            ct[outside] = -3024
            tifffile.imwrite(images / f"{i}.TIF", ct)
            tifffile.imwrite(masks / f"{i}.TIF", np.where(ct > 0, 255, 0).astype(np.uint8))


@pytest.mark.parametrize("workers", [1, 2])
def test_each_group_is_handed_over_when_its_files_are_in(tmp_path: Path, workers: int) -> None:
    """``on_group`` runs for each group, in order, once its own files are decoded and before
    the files of the groups after it are taken in: the caller reduces a group while the
    workers decode the next ones, instead of reducing everything after the last file."""
    _tree(tmp_path / "LungSegDB")
    p = paths.resolve(tmp_path)
    seen: list[tuple[str, set[str], set[str]]] = []

    def on_group(gs: tree.GroupScan, summaries: dict) -> None:
        mine = {f.rel for pair in gs.pairs for f in (pair.image, pair.mask)}
        seen.append((gs.group.label, mine, set(summaries)))

    groups, passed, saved = decodepass.decode_groups(
        p.dataset_dir,
        tree.iter_required(p),
        lambda gs: gs.jobs(),
        lambda gs: (set(), []),
        cache=scancache.ScanCache(None),
        workers=workers,
        on_group=on_group,
    )
    saved()
    assert [label for label, _, _ in seen] == [gs.group.label for gs in groups]
    assert len(seen) == len(dataset.GROUPS)
    done: set[str] = set()
    for _label, mine, at_the_time in seen:
        done |= mine
        assert mine <= at_the_time  # the group's files are all there
        if workers > 1:  # and nothing of the groups after it yet (chunks come back in order)
            assert at_the_time == done
        else:  # in-process: decoded by chunks, the one that ends the group may go further
            assert len(at_the_time - done) < decodepass.CHUNK
    assert done == set(passed.summaries) and passed.decoded == len(done)


_PROBE = """
import sys
from lungsegdb_cli.checks import decodepass

def imported_before_any_task():
    return "numpy" in sys.modules

assert "numpy" not in sys.modules
pool = decodepass._pool(2)
try:
    print(all(pool.submit(imported_before_any_task).result() for _ in range(4)))
finally:
    pool.shutdown()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_forked_workers_inherit_numpy_instead_of_importing_it_each() -> None:
    """The decode processes are forked with numpy already imported: no worker spends its
    first ~60 ms of CPU importing it while the main process lists the tree."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "True"


class _Steps:
    """A progress that records each call, amounts included."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None]] = []

    def start(self, description: str, total: int | None, unit: str = "files") -> None:
        self.calls.append(("start", total))

    def advance(self, amount: int = 1) -> None:
        self.calls.append(("advance", amount))

    def done(self) -> None:
        self.calls.append(("done", None))


@pytest.mark.parametrize("command", ["validate", "stats"])
def test_the_progress_starts_before_the_decoding_and_moves_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A tree big enough to fill the workers' queue (2 workers x 8 chunks x 48 files): the
    bar starts with its total, then moves a chunk at a time. (It started once the listing
    was done, which waited for the decoding: the first step was most of the tree.)"""
    import lungsegdb_cli as L
    from tests.support.ct import write_ct_tree

    monkeypatch.setenv("LUNGSEGDB_WORKERS", "2")
    write_ct_tree(tmp_path, [str(i) for i in range(400)], versions=("V1", "V2"))
    steps = _Steps()
    getattr(L, command)(tmp_path, progress=steps, use_cache=False)
    decoding = [c for c in steps.calls if c[0] == "start" and c[1] == 3200]
    assert decoding, steps.calls
    after = steps.calls[steps.calls.index(decoding[0]) + 1 :]
    amounts = [n for kind, n in after if kind == "advance" and n]
    assert sum(amounts) == 3200
    assert max(amounts) <= decodepass.CHUNK
