"""What every reader yields: one SampleRecord per input image, or per input that failed to be one.

A record carries either a `path` (relative to the source's root, for ingest to read) or the
image itself as `image_bytes` (PNG, for containers with no file per image: npz, Parquet, tar,
DICOM, NIfTI), or an `error` reason, so every input is accounted for in ingest's counts.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assets.sources.catalog import SourceSpec

NO_FINDING = "no finding"
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "validate": "val", "dev": "val", "test": "test", "testing": "test"}
SPLITS = ("train", "val", "test")  # the split names samples carry (SPLIT_NAMES' values)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class SourceError(Exception):
    """The source as a whole cannot be read (no permission, bad options): its partition fails."""


class MissingSource(SourceError):
    """The source's location does not exist: ingest publishes it as empty (a `missing_source` note),
    so the sources that are there go on downstream."""


@dataclass
class SampleRecord:
    # Stable within the source: a file record's path relative to the root (a clinical source's: its
    # keyed hash, readers/clinical.py).
    record_id: str
    source: str
    modality: str
    kind: str = "classification"
    label: str | None = None
    labels: tuple[str, ...] = ()  # positive labels of a multi-label sample
    split: str | None = None
    caption: str | None = None
    path: str | None = None  # relative to the source root, read by ingest
    image_bytes: bytes | None = None
    error: str | None = None  # reason code: the sample goes to the quarantine
    error_detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # kept in the sample's provenance
    # Unit that must not straddle splits under a ratio rule (a volume, a patient; default the
    # record itself); never written out.
    group: str = ""
    # The hash of that unit (registry.with_split; keyed for a clinical source), written out so that
    # curation can keep a test patient's other images out of training.
    group_id: str | None = None
    # Where ingest reads the image when the id must not show it (a clinical source's file, relative
    # to the root); never written out.
    read_from: str | None = None
    # Identifying values the reader saw in the input (DICOM identity tags), for the privacy check;
    # never written out.
    identifying: tuple[str, ...] = ()

    def to_row(self) -> dict[str, Any]:
        """The ingest row: 'path' is the record id (ingest reads it, or 'read_from' when given, when no
    bytes are given)."""
        row: dict[str, Any] = {"path": self.path or self.record_id, "record_id": self.record_id,
                               "source": self.source, "modality": self.modality, "kind": self.kind,
                               "label": self.label, "split": self.split}
        optional = {"labels": list(self.labels), "caption": self.caption, "meta": self.meta,
                    "group_id": self.group_id, "image_bytes": self.image_bytes, "error": self.error,
                    "error_detail": self.error_detail if self.error else ""}
        row.update({k: v for k, v in optional.items() if v not in (None, "", [], {})})
        if self.read_from and not self.error:
            row["read_from"] = self.read_from
        return row


def new_record(spec: SourceSpec, record_id: str, **fields: Any) -> SampleRecord:
    """A record of `spec` (source, modality and kind filled in)."""
    return SampleRecord(record_id=record_id, source=spec.name, modality=spec.modality, kind=spec.kind,
                        **fields)


def fail(record: SampleRecord, reason: str, detail: str) -> SampleRecord:
    """`record` as an error record: no image, a reason and a detail for the quarantine."""
    return dataclasses.replace(record, path=None, read_from=None, image_bytes=None, error=reason,
                               error_detail=detail[:500])


def parse_options(cls: type, options: Mapping[str, Any] | None, fmt: str):
    """Build a reader's options dataclass, with a clear error for unknown or ill-typed keys."""
    options = dict(options or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SourceError(f"unknown option(s) {unknown} for format {fmt!r}; valid: {sorted(known)}")
    for f in dataclasses.fields(cls):
        if isinstance(options.get(f.name), list):
            options[f.name] = tuple(options[f.name])
    try:
        opts = cls(**options)
    except (TypeError, ValueError) as e:
        raise SourceError(f"bad options for format {fmt!r}: {e}") from None
    check = getattr(opts, "validate", None)
    if check:
        check()
    return opts


def _class_lookup(spec: SourceSpec) -> dict[str, str]:
    return {term.strip().lower(): c.name for c in spec.classes for term in c.terms}


class LabelResolver:
    """Maps raw labels to the catalog's class names (case-insensitive, synonyms too). A public
    source with no classes in the catalog takes labels as they come; a clinical one takes none
    (a folder named after a patient must not become a label)."""

    def __init__(self, spec: SourceSpec):
        self.lookup = _class_lookup(spec)
        self.clinical = spec.clinical

    def one(self, raw: Any) -> str:
        """The class name for `raw`; KeyError if `raw` is none of the catalog's classes (and the
        catalog lists some, or the source is clinical). A clinical source's error omits `raw`."""
        text = str(raw).strip()
        if not self.lookup and not self.clinical:
            return text
        try:
            return self.lookup[text.lower()]
        except KeyError:
            if self.clinical:
                raise KeyError("its label is not a class of this source (a clinical source takes labels "
                               "only from the catalog's classes)") from None
            raise KeyError(f"label {text!r} is not a class of this source") from None

    def many(self, raw: Iterable[Any]) -> tuple[str, ...]:
        """Sorted, de-duplicated class names; 'no finding' entries dropped."""
        names = {self.one(r) for r in raw if str(r).strip().lower() != NO_FINDING}
        return tuple(sorted(n for n in names if n.lower() != NO_FINDING))


def multilabel_text(labels: Iterable[str]) -> str:
    """A multi-label sample's label: the sorted positives joined by ' and ', or 'no finding'."""
    labels = sorted(set(labels))
    return " and ".join(labels) if labels else NO_FINDING


def folder_split_and_class(relpath: str, *, use_split_folders: bool) -> tuple[str | None, str | None]:
    """(split, class) from a path laid out as [split/]class/.../file: the split folder counts
    only when it is a known split name and `use_split_folders`; class is None for a file with
    no folder left above it."""
    parts = relpath.split("/")[:-1]
    split = None
    if use_split_folders and parts and parts[0].lower() in SPLIT_NAMES:
        split, parts = SPLIT_NAMES[parts[0].lower()], parts[1:]
    return split, (parts[0] if parts else None)


def relative(path: str, root: str) -> str:
    """`path` relative to `root` (both fs paths without protocol)."""
    rel = posixpath.relpath(path, root) if root else path
    return posixpath.basename(path) if rel == "." else rel
