"""``export nnunet`` against nnU-Net v2's dataset format, as its documentation states it
(``documentation/dataset_format.md`` in MIC-DKFZ/nnUNet), with no nnU-Net installed.

:func:`violations` implements the rules; the export must break none, and each rule is shown to
catch its own breach (a checker that cannot fail checks nothing). The real nnU-Net accepting
the export is tests/frameworks (``pytest -m frameworks``).

Rules, from the documentation:

1. A dataset folder is ``DatasetXXX_Name``, XXX a three-digit id; it holds ``dataset.json``,
   ``imagesTr/``, ``labelsTr/`` and optionally ``imagesTs/`` (we add ``labelsTs/``).
2. ``dataset.json`` has ``channel_names`` (``"0"``, ``"1"``, ... to a name), ``labels`` (name to
   integer, ``background`` 0, values consecutive from 0), ``numTraining`` (the number of
   training cases) and ``file_ending``; ``overwrite_image_reader_writer`` is optional and, for
   ``.tif`` 2D images, ``NaturalImage2DIO``.
3. Images are ``{case}_{XXXX}{file_ending}``, XXXX a four-digit channel id, one per channel in
   ``channel_names``; segmentations are ``{case}{file_ending}``; every training case has both.
4. Within a case, images and segmentation share their geometry (shape).
5. Segmentations are integer maps whose values are labels of ``dataset.json``; for LungSegDB
   exactly background and lung, ``{0, 1}``.
6. Lossless files only (no JPEG-compressed TIFF).
7. ``splits_final.json`` (nnU-Net's manual split, copied to ``nnUNet_preprocessed`` by the
   planner): a list of folds ``{"train": [...], "val": [...]}``, disjoint, covering exactly
   the training cases.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

DATASET_NAME = re.compile(r"^Dataset(\d{3})_[A-Za-z0-9_\-]+$")
CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
NATURAL_2D_ENDINGS = {".png", ".bmp", ".tif"}
LOSSY = {"JPEG", "OJPEG", "WEBP", "JPEGXL", "JPEG2000"}


def _cases(folder: Path, ending: str, *, channels: bool) -> dict[str, set[str]]:
    """Case id -> channel ids (images) or {""} (labels); a name that breaks the naming rule
    is returned under the key ``"!name"``."""
    out: dict[str, set[str]] = {}
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(ending):
            out.setdefault("!name", set()).add(path.name)
            continue
        stem = path.name[: -len(ending)]
        if channels:
            m = CHANNEL.match(stem)
            if m is None:
                out.setdefault("!name", set()).add(path.name)
                continue
            out.setdefault(m["case"], set()).add(m["channel"])
        else:
            out.setdefault(stem, set()).add("")
    return out


def _json_rules(meta: dict) -> list[str]:
    bad = []
    for key in ("channel_names", "labels", "numTraining", "file_ending"):
        if key not in meta:
            bad.append(f"dataset.json: no {key}")
    if bad:
        return bad
    channels = meta["channel_names"]
    if sorted(channels) != [str(i) for i in range(len(channels))] or not channels:
        bad.append("channel_names keys are not 0..n-1")
    labels = meta["labels"]
    if labels.get("background") != 0:
        bad.append("labels: background is not 0")
    if sorted(labels.values()) != list(range(len(labels))):
        bad.append("labels: values not consecutive from 0")
    if labels != {"background": 0, "lung": 1}:
        bad.append("labels: not background/lung")
    if meta["file_ending"] not in NATURAL_2D_ENDINGS:
        bad.append(f"file_ending {meta['file_ending']!r} not a 2D natural-image ending")
    rw = meta.get("overwrite_image_reader_writer")
    if rw is not None and rw != "NaturalImage2DIO":
        bad.append(f"reader/writer {rw!r} is not NaturalImage2DIO")
    return bad


def _file_rules(image: Path, label: Path, label_values: set[int]) -> list[str]:
    bad = []
    with tifffile.TiffFile(image) as ti, tifffile.TiffFile(label) as tl:
        for tif in (ti, tl):
            if tif.pages[0].compression.name in LOSSY:
                bad.append(f"{Path(tif.filehandle.path).name}: lossy compression")
        img, seg = ti.asarray(), tl.asarray()
    if img.shape[:2] != seg.shape[:2] or seg.ndim != 2:
        bad.append(f"{label.name}: geometry {seg.shape} differs from image {img.shape}")
    if img.ndim == 3 and img.shape[2] not in (3, 4):
        bad.append(f"{image.name}: {img.shape[2]} channels in one file")
    if not np.issubdtype(seg.dtype, np.integer):
        bad.append(f"{label.name}: not an integer map ({seg.dtype})")
    values = {int(v) for v in np.unique(seg)}
    if not values <= label_values:
        bad.append(f"{label.name}: values {sorted(values)} not labels {sorted(label_values)}")
    return bad


def _pair_folders(ds: Path, images: str, labels: str, meta: dict) -> tuple[set[str], list[str]]:
    ending = meta["file_ending"]
    imgs = _cases(ds / images, ending, channels=True)
    segs = _cases(ds / labels, ending, channels=False) if (ds / labels).is_dir() else {}
    bad = [f"{images}: misnamed {sorted(imgs.pop('!name'))}"] if "!name" in imgs else []
    if "!name" in segs:
        bad.append(f"{labels}: misnamed {sorted(segs.pop('!name'))}")
    want = set(meta["channel_names"])
    want4 = {f"{int(c):04d}" for c in want}
    for case, chans in imgs.items():
        if chans != want4:
            bad.append(f"{images}/{case}: channels {sorted(chans)} != {sorted(want4)}")
    if (ds / labels).is_dir() and set(imgs) != set(segs):
        bad.append(f"{images}/{labels}: cases differ {sorted(set(imgs) ^ set(segs))}")
    values = set(meta["labels"].values())
    for case in sorted(set(imgs) & set(segs)):
        bad += _file_rules(
            ds / images / f"{case}_0000{ending}", ds / labels / f"{case}{ending}", values
        )
    return set(imgs), bad


def _splits_rules(ds: Path, training: set[str]) -> list[str]:
    path = ds / "splits_final.json"
    if not path.is_file():
        return []
    folds = json.loads(path.read_text())
    bad = []
    if not isinstance(folds, list) or not folds:
        return ["splits_final.json: not a list of folds"]
    for i, fold in enumerate(folds):
        tr, va = set(fold.get("train", [])), set(fold.get("val", []))
        if tr & va:
            bad.append(f"fold {i}: {sorted(tr & va)} in train and val")
        if tr | va != training:
            bad.append(f"fold {i}: does not cover the training cases exactly")
    return bad


def violations(ds: Path) -> list[str]:
    """Every way ``ds`` breaks nnU-Net v2's dataset format (empty: none)."""
    if DATASET_NAME.match(ds.name) is None:
        return [f"{ds.name}: not DatasetXXX_Name"]
    missing = [n for n in ("dataset.json", "imagesTr", "labelsTr") if not (ds / n).exists()]
    if missing:
        return [f"missing {n}" for n in missing]
    meta = json.loads((ds / "dataset.json").read_text())
    bad = _json_rules(meta)
    if bad:
        return bad
    training, more = _pair_folders(ds, "imagesTr", "labelsTr", meta)
    bad += more
    if meta["numTraining"] != len(training):
        bad.append(f"numTraining {meta['numTraining']} != {len(training)} cases")
    if (ds / "imagesTs").is_dir():
        testing, more = _pair_folders(ds, "imagesTs", "labelsTs", meta)
        bad += more
        if testing & training:
            bad.append(f"cases in imagesTr and imagesTs: {sorted(testing & training)}")
    return bad + _splits_rules(ds, training)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An nnunet export of a synth tree (4 pairs per group, masks 0/255 as published, V2 raw
    RGB), with all three splits non-empty. Read-only."""
    base = tmp_path_factory.mktemp("nnrules")
    made = L.synth(base / "s", pairs=4, seed=0, fmt="none")
    result = L.split(made.tree, seed=4)
    assert all(result.splits[s] for s in ("train", "val", "test"))
    L.export("nnunet", base / "raw", made.tree)
    return base / "raw"


def test_every_exported_dataset_follows_the_format(exported: Path) -> None:
    datasets = sorted(p for p in exported.iterdir() if p.is_dir())
    assert [d.name for d in datasets] == [
        "Dataset501_LungSegDBPreprocessed",
        "Dataset502_LungSegDBRaw",
    ]
    for ds in datasets:
        assert violations(ds) == [], ds.name
        assert (ds / "imagesTs").is_dir() and any((ds / "imagesTs").iterdir())
        labels = [tifffile.imread(p) for p in sorted((ds / "labelsTr").iterdir())]
        # Not just a subset: the label maps together hold exactly background and lung.
        assert set().union(*({int(v) for v in np.unique(a)} for a in labels)) == {0, 1}


def _rename_case(ds: Path) -> None:
    first = sorted((ds / "imagesTr").iterdir())[0]
    first.rename(first.with_name(first.name.replace("_0000", "_000")))


def _drop_label(ds: Path) -> None:
    sorted((ds / "labelsTr").iterdir())[0].unlink()


def _label_255(ds: Path) -> None:
    p = sorted((ds / "labelsTr").iterdir())[0]
    a = tifffile.imread(p)
    p.unlink()
    tifffile.imwrite(p, (a * 255).astype(np.uint8))


def _label_float(ds: Path) -> None:
    p = sorted((ds / "labelsTr").iterdir())[0]
    a = tifffile.imread(p)
    p.unlink()
    tifffile.imwrite(p, a.astype(np.float32))


def _shape(ds: Path) -> None:
    p = sorted((ds / "labelsTr").iterdir())[0]
    a = tifffile.imread(p)
    p.unlink()
    tifffile.imwrite(p, a[:-1])


def _jpeg(ds: Path) -> None:
    p = sorted((ds / "imagesTr").iterdir())[0]
    a = tifffile.imread(p)
    p.unlink()
    tifffile.imwrite(p, a.astype(np.uint8), compression="jpeg")


def _edit_json(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(ds: Path) -> None:
        meta = json.loads((ds / "dataset.json").read_text())
        change(meta)
        (ds / "dataset.json").write_text(json.dumps(meta))

    return edit


def _splits_leak(ds: Path) -> None:
    folds = json.loads((ds / "splits_final.json").read_text())
    folds[0]["val"].append(folds[0]["train"][0])
    (ds / "splits_final.json").write_text(json.dumps(folds))


def _test_in_train(ds: Path) -> None:
    case = sorted((ds / "imagesTr").iterdir())[0]
    shutil.copy2(case, ds / "imagesTs" / case.name)
    label = ds / "labelsTr" / case.name.replace("_0000", "")
    shutil.copy2(label, ds / "labelsTs" / label.name)


@pytest.mark.parametrize(
    ("breach", "says"),
    [
        (_rename_case, "misnamed"),
        (_drop_label, "cases differ"),
        (_label_255, "not labels"),
        (_label_float, "not an integer map"),
        (_shape, "geometry"),
        (_jpeg, "lossy"),
        (_edit_json(lambda m: m.update(numTraining=m["numTraining"] + 1)), "numTraining"),
        (_edit_json(lambda m: m.pop("file_ending")), "no file_ending"),
        (_edit_json(lambda m: m.update(labels={"background": 0, "lung": 2})), "consecutive"),
        (_edit_json(lambda m: m.update(channel_names={"1": "CT"})), "channel_names"),
        (_edit_json(lambda m: m.update(file_ending=".jpg")), "2D natural-image"),
        (_splits_leak, "in train and val"),
        (_test_in_train, "imagesTr and imagesTs"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_rule_catches_its_breach(
    exported: Path, tmp_path: Path, breach: Callable[[Path], None], says: str
) -> None:
    ds = tmp_path / "Dataset501_LungSegDBPreprocessed"
    shutil.copytree(exported / ds.name, ds)  # hard links broken: a private copy
    assert violations(ds) == []
    breach(ds)
    found = violations(ds)
    assert any(says in v for v in found), found


def test_dataset_folder_name_rule(tmp_path: Path) -> None:
    for name, ok in [
        ("Dataset501_LungSegDB", True),
        ("Dataset51_X", False),
        ("dataset501_X", False),
        ("Dataset501", False),
    ]:
        ds = tmp_path / name
        ds.mkdir()
        assert (DATASET_NAME.match(ds.name) is not None) is ok, name
