"""One foreground rule for every reader of a mask (``lungsegdb_cli/tiff/foreground.py``):
``validate``, ``stats``, ``load_pair``/``PairDataset`` and every export agree on what is lung,
whatever the mask's convention -- 0/255, 0/-1 (``int8``/``int16``: negative is lung), RGB,
RGBA with an opaque alpha (the alpha is not lung), gray + alpha. Each tree is built here: an
``int16`` Hounsfield-unit image and one mask whose true lung fraction is known."""

from __future__ import annotations

import glob
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: tiff/foreground (the rule itself) and checks/conventions, which re-exports it

H, W = 37, 45
LUNG = np.zeros((H, W), bool)
LUNG[5:20, 7:30] = True
LUNG[25:33, 3:9] = True
TRUE_FRACTION = float(LUNG.mean())
OPAQUE = np.full((H, W), 255, np.uint8)


def _pil(mode: str) -> Callable[[Path, np.ndarray], None]:
    def save(path: Path, arr: np.ndarray) -> None:
        from PIL import Image

        Image.fromarray(arr, mode).save(path)

    return save


def _tiff(path: Path, arr: np.ndarray) -> None:
    tifffile.imwrite(path, arr)


def _tiff_planar(path: Path, arr: np.ndarray) -> None:
    tifffile.imwrite(
        path,
        np.moveaxis(arr, -1, 0),
        planarconfig="separate",
        photometric="rgb",
        extrasamples=[2] if arr.shape[-1] == 4 else None,
    )


u8 = (LUNG * 255).astype(np.uint8)
#: name -> (the mask's pixels, how it is written, is it a multi-channel mask)
MASKS: dict[str, tuple[np.ndarray, Callable[[Path, np.ndarray], None], bool]] = {
    "0/255 uint8 (control)": (u8, _tiff, False),
    "0/-1 int8": (np.where(LUNG, -1, 0).astype(np.int8), _tiff, False),
    "0/-1 int16": (np.where(LUNG, -1, 0).astype(np.int16), _tiff, False),
    "0/-1 float32": (np.where(LUNG, -1.0, 0.0).astype(np.float32), _tiff, False),
    "RGBA opaque alpha (Pillow)": (np.dstack([u8, u8, u8, OPAQUE]), _pil("RGBA"), True),
    "RGBA opaque alpha (planar tifffile)": (np.dstack([u8, u8, u8, OPAQUE]), _tiff_planar, True),
    "RGBA lung in red only": (np.dstack([u8, 0 * u8, 0 * u8, OPAQUE]), _pil("RGBA"), True),
    "gray + opaque alpha (Pillow LA)": (np.dstack([u8, OPAQUE]), _pil("LA"), True),
}


def _tree(root: Path, mask: np.ndarray, write: Callable[[Path, np.ndarray], None]) -> Path:
    images = root / "LungSegDB" / "raw data" / "V1" / "CT_Images"
    masks = images.parent / "CT_Masks"
    images.mkdir(parents=True)
    masks.mkdir()
    hu = np.full((H, W), -1000, np.int16)
    hu[LUNG] = -850
    for stem in ("a", "b", "c"):
        tifffile.imwrite(images / f"{stem}.TIF", hu)
        write(masks / f"{stem}.TIF", mask)
    return root


@pytest.fixture(scope="module", params=list(MASKS), ids=list(MASKS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    mask, write, multi = MASKS[request.param]
    root = _tree(tmp_path_factory.mktemp("mask-rule"), mask, write)
    return root, mask, multi


def test_the_rule_itself() -> None:
    from lungsegdb_cli.tiff.foreground import binary, count, foreground

    for name, (mask, _, _) in MASKS.items():
        assert foreground(mask).shape == (H, W), name
        assert (foreground(mask) == LUNG).all(), name
        assert count(mask) == int(LUNG.sum()), name
        assert binary(mask).dtype == np.uint8 and (binary(mask) == LUNG).all(), name


def test_validate_tells_the_truth(case) -> None:
    root, _, multi = case
    found = L.validate(root, use_cache=False).findings
    codes = {f.code for f in found} - {"count-mismatch"}
    assert "empty-mask" not in codes, [f.message for f in found]
    assert codes == ({"multi-channel-mask"} if multi else set())
    for f in found:
        assert "every pixel is 0" not in f.message
        if f.code == "multi-channel-mask":
            assert "any channel is non-zero" in f.message


def test_stats_foreground_is_the_lung(case) -> None:
    root, _, _ = case
    doc = L.stats(root, variant="raw", version="V1", use_cache=False).to_dict()
    fg = doc["groups"][0]["foreground"]
    assert fg["mean"] == pytest.approx(TRUE_FRACTION, abs=1e-12)


def test_load_pair_and_pairdataset_give_the_lung(case) -> None:
    root, _, _ = case
    image, mask = L.load_pair(L.pairs(root)[0])
    assert image.dtype == np.int16
    assert image.shape[:2] == mask.shape == (H, W)
    assert mask.dtype == np.uint8 and (mask == LUNG).all()
    sample = L.PairDataset(root)[0]
    assert (sample["mask"] == LUNG).all()


def _labels(fmt: str, out: Path) -> list[np.ndarray]:
    if fmt == "nnunet":
        return [tifffile.imread(p) for p in glob.glob(f"{out}/*/labels*/*.tif")]
    if fmt == "monai":
        return [tifffile.imread(p) for p in glob.glob(f"{out}/*/labels/*.tif")]
    if fmt == "webdataset":
        got = []
        for shard in glob.glob(f"{out}/*/*.tar"):
            with tarfile.open(shard) as t:
                for m in t.getmembers():
                    if m.name.endswith(".mask.tif"):
                        got.append(tifffile.imread(io.BytesIO(t.extractfile(m).read())))
        return got
    import pyarrow.parquet as pq

    return [
        tifffile.imread(io.BytesIO(b), key=0)
        for p in glob.glob(f"{out}/*/*.parquet")
        for b in pq.read_table(p).column("mask").to_pylist()
    ]


@pytest.mark.parametrize("fmt", ["nnunet", "monai", "webdataset", "hf"])
def test_every_export_labels_the_lung(case, fmt: str, tmp_path: Path) -> None:
    root, _, _ = case
    out = tmp_path / "out"
    L.export(fmt, out, root)
    labels = _labels(fmt, out)
    assert len(labels) == 3
    for label in labels:
        assert label.shape == (H, W) and label.dtype == np.uint8
        assert (label == LUNG).all()


def test_the_rule_is_the_conventions_modules() -> None:
    from lungsegdb_cli.checks import conventions
    from lungsegdb_cli.tiff.foreground import foreground

    assert conventions.foreground is foreground
    assert os.path.basename(conventions.__file__) == "conventions.py"
