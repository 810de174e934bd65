"""Where each pair goes in each export format: case ids, file names, the JSON files.

One function per format turns the pairs (each with its split) into :class:`Plan`: the
:class:`~lungsegdb_cli.training.export.place.Job` list and the small text files (``dataset.json``,
``splits_final.json``, ``datalist.json``). Nothing here touches the disk.

Layouts (OUT is the export folder; ``<v>`` is ``preprocessed`` or ``raw``):

* ``nnunet``: ``OUT/DatasetNNN_LungSegDB<Variant>/`` per variant (``NNN`` = the dataset id for
  preprocessed and id + 1 for raw; with one ``variant`` chosen, the id itself);
  ``imagesTr/{case}_0000.tif`` + ``labelsTr/{case}.tif`` for train and val,
  ``imagesTs/`` + ``labelsTs/`` for test; masks as 0/1, images single-channel.
* ``monai``: ``OUT/<v>/datalist.json`` and ``OUT/<v>/images/``, ``OUT/<v>/labels/`` (0/1).
* ``folders``: ``OUT/<v>/{split}_images/{case}.tif`` and ``{split}_masks/{case}.tif``, masks
  linked as stored.
* ``csv``: ``OUT/pairs.csv``, one row per pair, pointing into the tree.
* ``hf`` and ``webdataset``, the packed formats: no file per image; their plan has no jobs
  but a ``pack`` step writing shards (:mod:`~lungsegdb_cli.training.export.hf`,
  :mod:`~lungsegdb_cli.training.export.webdataset`).
* ``croissant``: ``OUT/croissant.json``, the Croissant metadata of the pairs in the archive
  the tree came from (:mod:`lungsegdb_cli.training.export.croissant`; written by the front
  door, which knows the data dir). No file is placed.

Case ids are ``v1_<stem>`` / ``v2_<stem>`` with every run of characters outside
``[A-Za-z0-9_-]`` replaced by ``_``; when two stems of one variant give the same id (ignoring
case: a case-insensitive file system would merge them), each of those gets ``_`` and 8 hex
digits of the BLAKE2b of ``version/stem``, so ids stay unique and stable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.errors import CheckFailed, UsageError
from lungsegdb_cli.training.export.place import Job
from lungsegdb_cli.training.export.shardsize import ShardSize
from lungsegdb_cli.training.pairs import Pair
from lungsegdb_cli.training.split import SPLITS

FORMATS: tuple[str, ...] = ("nnunet", "monai", "folders", "csv", "hf", "webdataset", "croissant")
#: The formats that write shards (``--shard-size``) instead of a file per image.
PACKED: tuple[str, ...] = ("hf", "webdataset")
CSV_NAME = "pairs.csv"
CSV_COLUMNS = (
    "split",
    "variant",
    "version",
    "group",
    "stem",
    "case",
    "image",
    "mask",
    "shape",
    "mask_convention",
)
LABELS = {"background": 0, "lung": 1}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class Plan:
    """The jobs and text files of one export, and per dataset folder what it holds."""

    jobs: list[Job] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    #: rel folder -> {"variant", "cases": {split: n}, ...}
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: pair key -> case id
    cases: dict[str, str] = field(default_factory=dict)
    #: a packed format's step: ``(staged, progress, workers, limit) -> Packed``
    pack: Callable[..., Any] | None = None


def check_format(fmt: str) -> str:
    name = str(fmt).strip().lower()
    if name not in FORMATS:
        raise UsageError(
            f"Unknown export format {fmt!r}", hint=f"Use one of: {', '.join(FORMATS)}."
        )
    if name == "hf":
        from lungsegdb_cli.training.export import hf

        hf.require()
    return name


def check_shard_size(fmt: str, shard_size: str | int | ShardSize | None) -> ShardSize | None:
    """``--shard-size`` parsed for a packed format (hf, webdataset); given for another: exit 2."""
    from lungsegdb_cli.training.export.shardsize import parse

    if fmt in PACKED:
        return parse(shard_size)
    if shard_size is not None:
        raise UsageError(
            f"--shard-size is for the packed formats ({', '.join(PACKED)}), not {fmt}",
            hint="Leave --shard-size out for this format.",
        )
    return None


def short(variant: str) -> str:
    """``preprocessed data`` -> ``preprocessed``."""
    return variant.split()[0]


def case_ids(pairs: list[Pair]) -> dict[str, str]:
    """pair key -> case id, unique within each variant (see the module docstring)."""
    out: dict[str, str] = {}
    by_variant: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        by_variant[p.variant].append(p)
    for group in by_variant.values():
        base = {p.key: _base(p) for p in group}
        seen: dict[str, int] = defaultdict(int)
        for b in base.values():
            seen[b.casefold()] += 1
        ids: set[str] = set()
        for p in group:
            cid = base[p.key]
            if seen[cid.casefold()] > 1:
                tag = hashlib.blake2b(f"{p.version}/{p.stem}".encode(), digest_size=4).hexdigest()
                cid = f"{cid}_{tag}"
            if cid.casefold() in ids:
                raise CheckFailed(
                    f"Two pairs of {p.variant} get the case id {cid!r} (stem {p.stem!r})",
                    hint="Rename one of the two files in the tree.",
                    case=cid,
                )
            ids.add(cid.casefold())
            out[p.key] = cid
    return out


def _base(p: Pair) -> str:
    stem = _UNSAFE.sub("_", p.stem).strip("_") or "case"
    return f"{p.version.lower()}_{stem}"


def _versions(pairs: list[Pair]) -> str:
    """The versions the pairs come from, as a description says it: ``V2``, ``V1 and V2``."""
    return " and ".join(sorted({p.version for p in pairs})) or "no pairs"


def _by_variant(pairs: list[Pair]) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {}
    for v in dataset.VARIANTS:
        chosen = [p for p in pairs if p.variant == v]
        if chosen:
            out[v] = chosen
    return out


def _counts(pairs: list[Pair]) -> dict[str, int]:
    return {s: sum(p.split == s for p in pairs) for s in SPLITS}


def _json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def nnunet_name(variant: str, dataset_id: int) -> str:
    return f"Dataset{dataset_id:03d}_{dataset.NAME}{short(variant).capitalize()}"


def plan_nnunet(pairs: list[Pair], dataset_id: int, one_variant: bool) -> Plan:
    plan = Plan(cases=case_ids(pairs))
    for variant, chosen in _by_variant(pairs).items():
        did = dataset_id if one_variant else dataset_id + dataset.VARIANTS.index(variant)
        top = nnunet_name(variant, did)
        fold: dict[str, list[str]] = {"train": [], "val": []}
        for p in chosen:
            cid = plan.cases[p.key]
            tr = "Tr" if p.split in ("train", "val") else "Ts"
            plan.jobs.append(
                Job(f"{top}/images{tr}/{cid}_0000.tif", str(p.image), "image", "gray", p.key)
            )
            plan.jobs.append(
                Job(f"{top}/labels{tr}/{cid}.tif", str(p.mask), "mask", "binary", p.key)
            )
            if p.split in fold:
                fold[str(p.split)].append(cid)
        counts = _counts(chosen)
        plan.texts[f"{top}/dataset.json"] = _json(
            {
                "channel_names": {"0": "CT"},
                "labels": LABELS,
                "numTraining": counts["train"] + counts["val"],
                "file_ending": ".tif",
                "overwrite_image_reader_writer": "NaturalImage2DIO",
                "name": top.split("_", 1)[1],
                "description": f"{dataset.NAME} {variant} ({_versions(chosen)}), exported by "
                "lungsegdb",
                "reference": dataset.CITATION,
                "licence": dataset.LICENCE,
                "numTest": counts["test"],
            }
        )
        plan.texts[f"{top}/splits_final.json"] = _json(
            [{"train": sorted(fold["train"]), "val": sorted(fold["val"])}]
        )
        plan.datasets[top] = {"variant": variant, "dataset_id": did, "pairs": counts}
    return plan


def plan_monai(pairs: list[Pair]) -> Plan:
    plan = Plan(cases=case_ids(pairs))
    names = {"train": "training", "val": "validation", "test": "test"}
    for variant, chosen in _by_variant(pairs).items():
        top = short(variant)
        lists: dict[str, list[dict[str, str]]] = {n: [] for n in names.values()}
        for p in chosen:
            cid = plan.cases[p.key]
            image, label = f"images/{cid}.tif", f"labels/{cid}.tif"
            plan.jobs.append(Job(f"{top}/{image}", str(p.image), "image", "link", p.key))
            plan.jobs.append(Job(f"{top}/{label}", str(p.mask), "mask", "binary", p.key))
            lists[names[str(p.split)]].append({"image": image, "label": label})
        doc = {
            "name": f"{dataset.NAME} {variant}",
            "description": "Exported by lungsegdb; labels are 0/1 uint8, 1 = lung.",
            "labels": {"0": "background", "1": "lung"},
            **lists,
        }
        plan.texts[f"{top}/datalist.json"] = _json(doc)
        plan.datasets[top] = {"variant": variant, "pairs": _counts(chosen)}
    return plan


def plan_folders(pairs: list[Pair]) -> Plan:
    plan = Plan(cases=case_ids(pairs))
    for variant, chosen in _by_variant(pairs).items():
        top = short(variant)
        for p in chosen:
            cid = plan.cases[p.key]
            plan.jobs.append(
                Job(f"{top}/{p.split}_images/{cid}.tif", str(p.image), "image", "link", p.key)
            )
            plan.jobs.append(
                Job(f"{top}/{p.split}_masks/{cid}.tif", str(p.mask), "mask", "link", p.key)
            )
        plan.datasets[top] = {"variant": variant, "pairs": _counts(chosen)}
    return plan


def plan_csv(pairs: list[Pair]) -> Plan:
    plan = Plan(cases=case_ids(pairs))
    for p in pairs:
        plan.jobs.append(Job(f"{p.key}#image", str(p.image), "image", "probe", p.key))
        plan.jobs.append(Job(f"{p.key}#mask", str(p.mask), "mask", "probe", p.key))
    plan.datasets[CSV_NAME] = {"variant": None, "pairs": _counts(pairs)}
    return plan


def plan_croissant(pairs: list[Pair]) -> Plan:
    """No file placed: the one text file is the front door's (it needs the data dir)."""
    from lungsegdb_cli.training.export.croissant import FILENAME

    plan = Plan()
    plan.datasets[FILENAME] = {"variant": None, "pairs": _counts(pairs)}
    return plan


def csv_text(pairs: list[Pair], cases: dict[str, str], probed: dict[str, Any]) -> str:
    """The CSV's text from the probed shapes and mask conventions (``probed``: job rel ->
    :class:`~lungsegdb_cli.training.export.place.Placed`); cells that a spreadsheet would run as a
    formula are escaped (:mod:`lungsegdb_cli.utils.csvsafe`)."""
    from lungsegdb_cli.utils.csvsafe import rows_text

    rows = (
        [
            p.split,
            p.variant,
            p.version,
            p.group,
            p.stem,
            cases[p.key],
            str(p.image),
            str(p.mask),
            probed[f"{p.key}#image"].shape,
            probed[f"{p.key}#mask"].convention,
        ]
        for p in pairs
    )
    return rows_text(CSV_COLUMNS, rows)


def plan_packed(
    fmt: str, pairs: list[Pair], shard_size: ShardSize, tree: dict[str, str | None] | None = None
) -> Plan:
    """An ``hf`` or ``webdataset`` plan: no jobs, the format's pack step (``tree``: what the
    hf card says of the tree, see :func:`~lungsegdb_cli.training.export.hf.made_from`)."""
    plan = Plan(cases=case_ids(pairs))
    if fmt == "hf":
        from lungsegdb_cli.training.export import hf

        plan.pack = hf.plan_pack(pairs, shard_size, tree or {})
    else:
        from lungsegdb_cli.training.export import webdataset

        plan.pack = webdataset.plan_pack(pairs, plan.cases, shard_size)
    return plan


def plan(
    fmt: str,
    pairs: list[Pair],
    *,
    dataset_id: int,
    one_variant: bool,
    shard_size: ShardSize | None = None,
    tree: dict[str, str | None] | None = None,
) -> Plan:
    """The plan of format ``fmt`` for ``pairs`` (each with its split); ``tree``: the
    manifest's and the archive's SHA-256 as recorded (the hf card names them)."""
    if fmt in PACKED:
        from lungsegdb_cli.training.export.shardsize import DEFAULT

        return plan_packed(fmt, pairs, shard_size or DEFAULT, tree)
    if fmt == "nnunet":
        return plan_nnunet(pairs, dataset_id, one_variant)
    if fmt == "monai":
        return plan_monai(pairs)
    if fmt == "folders":
        return plan_folders(pairs)
    if fmt == "croissant":
        return plan_croissant(pairs)
    return plan_csv(pairs)
