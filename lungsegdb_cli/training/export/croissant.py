"""The Croissant (MLCommons, JSON-LD) metadata of a verified tree: what a Croissant loader reads.

:func:`archive_facts` says what the tree came from -- the archive lungsegdb recorded (its
SHA-256, size and source, :mod:`lungsegdb_cli.state.provenance`) and where the tree sits in it
(recorded with the manifest, :func:`lungsegdb_cli.checks.manifest.archive_layout`) -- and
refuses a tree it cannot vouch for (exit 1). :func:`document` then describes, in Croissant 1.1:

* ``distribution``: the archive as one ``cr:FileObject`` (``@id`` ``archive``: its Drive
  download URL, or the mirror it came from with secrets redacted, or for an archive given by
  hand a name made of its SHA-256 (:func:`content_url`); ``sha256``, ``contentSize``,
  ``encodingFormat``), and the images and the masks as two ``cr:FileSet`` contained in it (one
  glob per documented folder and extension, as the archive spells them; names starting with a
  dot left out unless they are pairs', so junk such as ``._1.TIF`` is never decoded);
* ``recordSet``: ``pairs``, one record per image/mask pair: ``image`` and ``mask`` (the file
  contents, ``sc:ImageObject``; the mask also ``cr:SegmentationMask``), ``image_path`` and
  ``mask_path`` (the members' paths in the archive), ``stem``, ``variant``, ``version``,
  ``group`` and, when splits are in force, ``split`` (``wd:Q3985153``, the Croissant split
  type). Croissant has no way to derive an image's mask from its path (a transform keeps one
  contiguous piece of it), so the pairing is listed: ``pair_index`` holds one row per pair
  (inline ``data``), ``image_files``/``mask_files`` read the two file sets, ``pair_masks`` joins
  each row with its mask and ``pairs`` that with its image -- one join per record set, the
  index on the left, so only pairs are yielded (a lone image or an OS junk file in a folder
  is not);
* the dataset card (:mod:`lungsegdb_cli.dataset.card`: name, description, citation, licence,
  the Drive page as ``url``) and, as an ``identifier``, the SHA-256 of the tree's manifest.

The same tree (and splits) gives the same bytes: no clock, no host name, keys and rows in a
fixed order. ``datePublished``, which Croissant recommends, is left out: LungSegDB publishes
none, and inventing one would be worse than the validator's warning about it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lungsegdb_cli._redact import redact
from lungsegdb_cli.checks import manifest
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed
from lungsegdb_cli.state.provenance import Provenance
from lungsegdb_cli.training.pairs import Pair

__all__ = [
    "ARCHIVE_ID",
    "CONFORMS_TO",
    "FILENAME",
    "ArchiveFacts",
    "ArchiveUnrecorded",
    "archive_facts",
    "document",
    "dumps",
]

#: The file ``export croissant OUT`` writes (the name Croissant's examples use).
FILENAME = "croissant.json"
#: The Croissant version the document conforms to.
CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
#: The archive's ``@id``: the key of ``mlcroissant.Dataset(..., mapping={...})``.
ARCHIVE_ID = "archive"
#: The Croissant @context (the standard one of Croissant 1.1, plus Wikidata for the split type).
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "wd": "https://www.wikidata.org/wiki/",
}
#: The MIME type of each archive format (a compressed tar is a tar to Croissant's loaders).
ENCODINGS: dict[str, str] = {
    "zip": "application/zip",
    "tar": "application/x-tar",
    "tar.gz": "application/x-tar",
    "tar.bz2": "application/x-tar",
    "tar.xz": "application/x-tar",
    "7z": "application/x-7z-compressed",
    "rar": "application/vnd.rar",
}
#: What each pair's fields are, in the order of the record (``split`` only with splits).
_TEXT = "sc:Text"
_IMAGE = "sc:ImageObject"
_MASK = ["cr:SegmentationMask", "sc:ImageObject"]
_SPLIT = ["wd:Q3985153", "sc:Text"]
_INDEX_FIELDS: dict[str, str] = {
    "image_path": "The image's path in the archive.",
    "mask_path": "The mask's path in the archive.",
    "stem": "The file name without its extension, shared by the image and its mask.",
    "variant": "'preprocessed data' or 'raw data' (the documented folder name).",
    "version": "'V1' (slices from LIDC-IDRI) or 'V2' (slices from a Kaggle chest CT collection).",
    "group": "The group key the splits keep together: the stem, or the capture of the "
    "splits' group_by pattern.",
    "split": "'train', 'val' or 'test', from the splits in force when this was written.",
}


class ArchiveUnrecorded(CheckFailed):
    """The tree cannot be described as part of an archive: which archive it came from, or
    where it sits in it, is not recorded (exit 1)."""

    kind = "archive-unrecorded"


@dataclass(frozen=True)
class ArchiveFacts:
    """What a Croissant document says about the archive the tree was extracted from."""

    name: str
    content_url: str
    sha256: str
    size: int | None
    format: str | None
    #: documented leaf folder -> the archive's folder holding its files
    folders: dict[str, str]
    #: the kept archive on this machine (the ``mapping`` a loader can use), None if not kept
    kept: Path | None

    @property
    def encoding(self) -> str:
        return ENCODINGS.get(self.format or "", "application/octet-stream")

    def member(self, tree_path: str) -> str:
        """The archive path of the tree file at ``tree_path`` (relative to the tree, ``/``)."""
        leaf, _, name = tree_path.rpartition("/")
        folder = self.folders.get(leaf)
        if folder is None:
            raise ArchiveUnrecorded(
                f"Where {leaf} sits in the archive is not recorded",
                hint="Extract the tree again: lungsegdb extract --force.",
                path=tree_path,
            )
        return f"{folder}/{name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": ARCHIVE_ID,
            "name": self.name,
            "content_url": self.content_url,
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
            "encoding_format": self.encoding,
            "kept": None if self.kept is None else str(self.kept),
        }


# ---------------------------------------------------------------------------------------------
# What the tree came from
# ---------------------------------------------------------------------------------------------
def archive_facts(paths: DataPaths) -> ArchiveFacts:
    """The archive the tree of ``paths`` was extracted from, once the tree is vouched for:
    complete and at its recorded sizes (``verify --quick``'s check), recorded as extracted from
    the archive the provenance names, with the tree's place in it recorded. Call with the
    generation lock held. No tree, no manifest, or a tree that differs: CheckFailed; the
    archive or the layout not recorded: :class:`ArchiveUnrecorded` (both exit 1)."""
    if not paths.dataset_dir.is_dir():
        raise CheckFailed(
            f"No LungSegDB tree at {paths.dataset_dir}",
            hint="Run 'lungsegdb download' first, or pass --data-dir.",
            path=str(paths.dataset_dir),
        )
    if not paths.manifest.is_file():
        raise ArchiveUnrecorded(
            f"The tree at {paths.dataset_dir} has no manifest: it was not extracted by lungsegdb",
            hint="Install it with 'lungsegdb download' (or 'download --archive FILE').",
            path=str(paths.manifest),
        )
    from lungsegdb_cli.checks.verify import extra_files

    # verify --quick's check: every listed file at its recorded size, and no file added
    extra = extra_files(paths) if manifest.intact(paths) is not None else None
    if extra is None or extra:
        added = ""
        if extra:
            more = ", ..." if len(extra) > 3 else ""
            added = f" ({len(extra)} not in it: {', '.join(extra[:3])}{more})"
        raise CheckFailed(
            f"The tree at {paths.dataset_dir} does not match its manifest{added}",
            hint="See what differs with 'lungsegdb verify'; 'lungsegdb extract --force' "
            "restores it.",
            path=str(paths.dataset_dir),
        )
    record = Provenance.load(paths.provenance)  # corrupt: ProvenanceCorrupt, never vouched
    if record is None or record.pin is None:
        raise ArchiveUnrecorded(
            "No record of the archive the tree was extracted from",
            hint="Install it with 'lungsegdb download' (or 'download --archive FILE'), which "
            "records the archive.",
            path=str(paths.provenance),
        )
    made_from = manifest.tree_archive(paths)
    if made_from != record.pin:
        raise ArchiveUnrecorded(
            f"The tree is not recorded as extracted from the recorded archive "
            f"({record.pin[:12]}...)",
            hint="Extract it from that archive again: lungsegdb extract --force.",
            path=str(paths.manifest_sizes),
        )
    layout = manifest.archive_layout(paths)
    if layout is None:
        raise ArchiveUnrecorded(
            "Where the tree sits in its archive is not recorded (it was extracted by an older "
            "lungsegdb)",
            hint="Extract it again once: lungsegdb extract --force (or download --force).",
            path=str(paths.manifest_sizes),
        )
    kept = record.kept_archive(paths.root)
    size = record.size
    if size is None and kept is not None:
        size = kept.stat().st_size
    return ArchiveFacts(
        name=_archive_name(record, layout.format),
        content_url=content_url(record, layout.format),
        sha256=record.pin,
        size=size,
        format=layout.format,
        folders=dict(layout.folders),
        kept=kept,
    )


def _archive_name(record: Provenance, fmt: str | None) -> str:
    """The archive's own name: the same on every machine, also where the local copy was kept
    under another (``LungSegDB (2).zip``: the provenance's ``name``)."""
    if record.name:
        return record.name
    if record.path:
        return PurePosixPath(record.path.replace("\\", "/")).name
    return f"{dataset.NAME}.{fmt or 'zip'}"


def content_url(record: Provenance, fmt: str | None = None) -> str:
    """Where a loader can fetch the archive, never the same text for two different archives
    unless they come from the same place (mlcroissant keys its download and extraction cache
    by ``contentUrl`` alone: ``sha256(contentUrl)``, whatever ``mapping`` says):

    * a Drive download: Google Drive's download URL of the file it came from;
    * an ``http(s)``/``s3``/``gs``/... mirror: its URL, redacted (user info and credential
      parameters are ``***``);
    * an archive given by hand (``--archive FILE``, a ``file://`` or plain-path source): the
      name :func:`local_name` makes of its SHA-256 (a relative path: the archive beside the
      document, or given with ``mapping``). A local path says nothing to another machine, and
      the Drive URL would make every such archive -- a synth one, another release -- share
      the first one's extraction in a loader's cache."""
    if record.drive_id:
        return drive_download_url(record.drive_id)
    source = (record.source or "").strip()
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme and scheme != "file":
        return redact(source)
    if record.pin is None:
        raise ArchiveUnrecorded(
            "No record of the archive's SHA-256",
            hint="Install it with 'lungsegdb download --archive FILE', which records it.",
        )
    return local_name(record.pin, fmt)


def local_name(sha256: str, fmt: str | None = None) -> str:
    """The ``contentUrl`` of an archive given by hand: ``LungSegDB-sha256-<hex>.<format>``,
    named by its content (two archives share it only if they are the same bytes)."""
    return f"{dataset.NAME}-sha256-{sha256.lower()}.{fmt or 'zip'}"


def drive_download_url(drive_id: str) -> str:
    return f"https://drive.google.com/uc?export=download&id={drive_id}"


# ---------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------
def _glob(text: str) -> str:
    """``text`` as a literal in a glob (``fnmatch``): ``[``, ``*``, ``?`` bracketed."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in text)


def _includes(members: Iterable[str]) -> list[str]:
    """The globs of ``members``: one per archive folder and file extension (as spelled), for
    the names that do not start with a dot (``[!.]*``: OS junk such as AppleDouble ``._1.TIF``
    files beside the slices is not a TIFF, and a loader would fail decoding it), plus each
    member whose name does start with one, by its exact name."""
    globs: set[str | tuple[str, str]] = set()  # a glob, or (folder, extension) to make one
    for member in members:
        folder, _, name = member.rpartition("/")
        if name.startswith("."):
            globs.add(f"{_glob(folder)}/{_glob(name)}")
        else:
            globs.add((folder, os.path.splitext(name)[1]))
    return sorted(g if isinstance(g, str) else f"{_glob(g[0])}/[!.]*{_glob(g[1])}" for g in globs)


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with ``/`` (string work: 10,000 paths in milliseconds)."""
    text, prefix = os.fspath(path), os.fspath(root) + os.sep
    rel = text[len(prefix) :] if text.startswith(prefix) else os.path.relpath(text, root)
    return rel.replace(os.sep, "/") if os.sep != "/" else rel


def _field(
    rs: str,
    name: str,
    data_type: Any,
    description: str | None = None,
    source: dict[str, Any] | None = None,
    references: str | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"@type": "cr:Field", "@id": f"{rs}/{name}", "name": name}
    if description:
        doc["description"] = description
    doc["dataType"] = data_type
    if source is not None:
        doc["source"] = source
    if references is not None:
        doc["references"] = {"field": {"@id": references}}
    return doc


def _from_files(file_set: str, prop: str) -> dict[str, Any]:
    return {"fileSet": {"@id": file_set}, "extract": {"fileProperty": prop}}


def _from_field(field_id: str) -> dict[str, Any]:
    return {"field": {"@id": field_id}}


def _record_sets(names: list[str], rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """``pair_index``, ``image_files``, ``mask_files``, ``pair_masks`` and ``pairs`` (see the
    module docstring), for the index fields ``names``."""
    index = {
        "@type": "cr:RecordSet",
        "@id": "pair_index",
        "name": "pair_index",
        "description": "One row per image/mask pair: where both files are in the archive and "
        "what the pair is. The record set 'pairs' joins it with the files.",
        "key": {"@id": "pair_index/image_path"},
        "field": [
            _field("pair_index", n, _SPLIT if n == "split" else _TEXT, _INDEX_FIELDS[n])
            for n in names
        ],
        "data": rows,
    }
    files = [
        {
            "@type": "cr:RecordSet",
            "@id": f"{kind}_files",
            "name": f"{kind}_files",
            "description": f"Every {kind} file of the archive: its path and its content.",
            "key": {"@id": f"{kind}_files/path"},
            "field": [
                _field(
                    f"{kind}_files",
                    "path",
                    _TEXT,
                    f"The {kind}'s path in the archive.",
                    _from_files(f"{kind}s", "fullpath"),
                ),
                _field(
                    f"{kind}_files",
                    "content",
                    _IMAGE if kind == "image" else _MASK,
                    f"The {kind}.",
                    _from_files(f"{kind}s", "content"),
                ),
            ],
        }
        for kind in ("image", "mask")
    ]
    pair_masks = {
        "@type": "cr:RecordSet",
        "@id": "pair_masks",
        "name": "pair_masks",
        "description": "Each row of pair_index with its mask.",
        "key": {"@id": "pair_masks/image_path"},
        "field": [
            *(
                _field(
                    "pair_masks",
                    n,
                    _SPLIT if n == "split" else _TEXT,
                    _INDEX_FIELDS[n],
                    _from_field(f"pair_index/{n}"),
                    "mask_files/path" if n == "mask_path" else None,
                )
                for n in names
            ),
            _field("pair_masks", "mask", _MASK, "The mask.", _from_field("mask_files/content")),
        ],
    }
    pairs = {
        "@type": "cr:RecordSet",
        "@id": "pairs",
        "name": "pairs",
        "description": "The image/mask pairs of LungSegDB: the CT slice, its binary lung mask "
        "(0 background, nonzero lung) and what the pair is.",
        "key": {"@id": "pairs/image_path"},
        "field": [
            _field(
                "pairs",
                "image",
                _IMAGE,
                "The CT slice (TIFF; raw V1 slices are int16 Hounsfield units).",
                _from_field("image_files/content"),
            ),
            _field(
                "pairs",
                "mask",
                _MASK,
                "The lung mask (TIFF, 0 = background).",
                _from_field("pair_masks/mask"),
            ),
            *(
                _field(
                    "pairs",
                    n,
                    _SPLIT if n == "split" else _TEXT,
                    _INDEX_FIELDS[n],
                    _from_field(f"pair_masks/{n}"),
                    "image_files/path" if n == "image_path" else None,
                )
                for n in names
            ),
        ],
    }
    return [index, *files, pair_masks, pairs]


def document(
    facts: ArchiveFacts,
    pairs: list[Pair],
    *,
    root: Path,
    manifest_sha256: str | None,
    with_split: bool,
) -> dict[str, Any]:
    """The Croissant document of ``pairs`` (files under the tree ``root``) in the archive
    ``facts`` describes (see the module docstring); ``with_split``: each pair's split is
    given (every pair has one)."""
    names = [n for n in _INDEX_FIELDS if n != "split" or with_split]
    rows: list[dict[str, str]] = []
    for p in pairs:
        image = facts.member(_relative(p.image, root))
        mask = facts.member(_relative(p.mask, root))
        values = {
            "image_path": image,
            "mask_path": mask,
            "stem": p.stem,
            "variant": p.variant,
            "version": p.version,
            "group": p.group,
            "split": str(p.split),
        }
        rows.append({f"pair_index/{n}": values[n] for n in names})
    archive: dict[str, Any] = {
        "@type": "cr:FileObject",
        "@id": ARCHIVE_ID,
        "name": facts.name,
        "description": "The LungSegDB archive, as published (the tree sits in it as the "
        "file sets say).",
        "contentUrl": facts.content_url,
        "encodingFormat": facts.encoding,
        "sha256": facts.sha256,
    }
    if facts.size is not None:
        archive["contentSize"] = f"{facts.size} B"
    file_sets = [
        {
            "@type": "cr:FileSet",
            "@id": f"{kind}s",
            "name": f"{kind}s",
            "description": f"The {kind}s (TIFF) of every documented folder, in the archive.",
            "containedIn": {"@id": ARCHIVE_ID},
            "encodingFormat": "image/tiff",
            "includes": _includes(r[f"pair_index/{kind}_path"] for r in rows),
        }
        for kind in ("image", "mask")
    ]
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": dataset.NAME,
        "description": dataset.DESCRIPTION,
        "url": dataset.DRIVE_URL,
        "citeAs": dataset.CITATION,
        "license": dataset.LICENCE,
        "keywords": ["lung", "CT", "segmentation", "medical imaging", "TIFF"],
    }
    if manifest_sha256 is not None:
        doc["identifier"] = {
            "@type": "sc:PropertyValue",
            "propertyID": "lungsegdb-manifest-sha256",
            "name": "SHA-256 of the tree's manifest (LungSegDB.sha256)",
            "value": manifest_sha256,
        }
    doc["distribution"] = [archive, *file_sets]
    doc["recordSet"] = _record_sets(names, rows)
    return doc


def dumps(doc: dict[str, Any]) -> bytes:
    """The document's bytes: the same document, the same bytes (ASCII, 2-space indent)."""
    return (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode("ascii")
