"""Pick a source's reader by its literal `format`, open its location, and assign splits."""

from __future__ import annotations

import hashlib
import importlib
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from assets.sources.catalog import SourceSpec, SplitRule
from assets.sources.readers.clinical import ClinicalGuard, privacy_salt
from assets.sources.readers.identifiers import Identifiers
from assets.sources.readers.records import (
    SPLIT_NAMES,
    SPLITS,
    MissingSource,
    SampleRecord,
    SourceError,
    fail,
    parse_options,
)

_AMBIGUOUS = "\x00ambiguous"  # listed_split's answer for a sample in the lists of two splits
ReadFn = Callable[[SourceSpec, AbstractFileSystem, str], Iterator[SampleRecord]]
RootFn = Callable[[SourceSpec, AbstractFileSystem, str], str]


def container_root(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> str:
    """The location if it is a folder, else the folder holding it."""
    return location if fs.isdir(location) else posixpath.dirname(location)


def location_root(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> str:
    """The location itself (a folder of class folders)."""
    return location


@dataclass(frozen=True)
class Reader:
    """A reader in module assets.sources.readers.`module`, imported on first use (so pydicom and
    nibabel load only where a catalog holds a DICOM or NIfTI source): its read function and options
    dataclass by name, and what record paths (and ingest's `root`) are relative to, a function of
    this module or a name in that one; and, by name in that module, the further files it reads outside
    that root and its location (a manifest's join files), which a source's fingerprint covers too."""

    module: str
    read_name: str
    options_name: str
    root_spec: RootFn | str = container_root
    inputs_name: str = ""

    def _attr(self, name: str):
        return getattr(importlib.import_module(f"assets.sources.readers.{self.module}"), name)

    @property
    def read(self) -> ReadFn:
        return self._attr(self.read_name)

    @property
    def options(self) -> type:
        return self._attr(self.options_name)

    @property
    def root(self) -> RootFn:
        return self._attr(self.root_spec) if isinstance(self.root_spec, str) else self.root_spec

    def inputs(self, spec: SourceSpec, fs: AbstractFileSystem, location: str) -> list[str]:
        return self._attr(self.inputs_name)(spec, fs, location) if self.inputs_name else []


READERS: dict[str, Reader] = {
    "imagefolder": Reader("imagefolder", "read_imagefolder", "ImageFolderOptions", location_root),
    "csv": Reader("manifest", "read_csv", "ManifestOptions", "manifest_root", "manifest_inputs"),
    "tsv": Reader("manifest", "read_tsv", "ManifestOptions", "manifest_root", "manifest_inputs"),
    "jsonl": Reader("manifest", "read_jsonl", "ManifestOptions", "manifest_root", "manifest_inputs"),
    "json": Reader("json_manifest", "read_json", "JsonManifestOptions", "manifest_root", "manifest_inputs"),
    "medmnist_npz": Reader("medmnist_npz", "read_medmnist_npz", "MedMNISTOptions"),
    "hf_parquet": Reader("hf_parquet", "read_hf_parquet", "HFParquetOptions"),
    "webdataset": Reader("webdataset_tar", "read_webdataset", "WebDatasetOptions"),
    "dicom": Reader("dicom", "read_dicom", "DicomOptions"),
    "nifti": Reader("nifti", "read_nifti", "NiftiOptions"),
    "openi_xml": Reader("openi_xml", "read_openi_xml", "OpenIOptions", "openi_root"),
}


def reader_for(fmt: str) -> Reader:
    try:
        return READERS[fmt]
    except KeyError:
        raise SourceError(f"unknown format {fmt!r}; known: {sorted(READERS)}") from None


def validate_options(fmt: str, options: dict[str, Any]) -> None:
    """Raise SourceError if `options` are not valid for `fmt`."""
    parse_options(reader_for(fmt).options, options, fmt)


@dataclass
class SourceRead:
    root: str  # URL that record paths are relative to: pass it as ingest_rows(root=...)
    records: Iterator[SampleRecord]
    # A clinical source's folder and file names and DICOM identity values, collected while
    # `records` is consumed (complete once it is): what no output may contain. None when public.
    identifiers: Identifiers | None = None

    def rows(self) -> Iterator[dict]:
        """The records as ingest rows."""
        return (r.to_row() for r in self.records)


def read_source(spec: SourceSpec, *, storage_options: dict[str, Any] | None = None) -> SourceRead:
    """Open `spec.location` (local or any fsspec URL) with the reader its format names.
    Raises SourceError when the source as a whole cannot be read (MissingSource when its location
    does not exist); bad samples become records with an `error` instead."""
    reader = reader_for(spec.format)
    validate_options(spec.format, spec.options)
    if not spec.location:
        raise SourceError(f"source {spec.name!r} has no location")
    fs, location = fsspec.core.url_to_fs(spec.location, **(storage_options or {}))
    shown = spec.shown_location()
    try:
        found = fs.exists(location)
    except Exception as e:  # noqa: BLE001 - permissions, network: the source is unreadable
        detail = type(e).__name__ if spec.clinical else str(e)
        raise SourceError(f"source {spec.name!r}: cannot reach {shown}: {detail}") from (None if spec.clinical else e)
    if not found:
        raise MissingSource(spec.missing_location())
    root = reader.root(spec, fs, location)
    listed = split_lists(spec, fs, posixpath.dirname(location)) if spec.split.by == "lists" else {}
    records = (with_split(r, spec.split, listed) for r in reader.read(spec, fs, location))
    if not spec.clinical:
        return SourceRead(root=fs.unstrip_protocol(root), records=records)
    guard = ClinicalGuard(spec, root, privacy_salt())
    return SourceRead(root=fs.unstrip_protocol(root), records=map(guard.record, records),
                      identifiers=guard.identifiers)


def split_list_file(fs: AbstractFileSystem, folder: str, name: str) -> tuple[AbstractFileSystem, str]:
    """(filesystem, path) of a split list named `name` in a catalog: a URL, an absolute path, or a path
    relative to `folder` (the one holding the source's location)."""
    if "://" in name:
        return fsspec.core.url_to_fs(name)
    return fs, name if name.startswith("/") else posixpath.join(folder, name)


def split_lists(spec: SourceSpec, fs: AbstractFileSystem, folder: str) -> dict[str, str | None]:
    """{entry: split} of a by="lists" rule's files (each relative to `folder` unless absolute or a URL);
    an entry listed under two splits maps to None. SourceError naming the file when one is missing."""
    listed: dict[str, str | None] = {}
    for split, name in spec.split.lists:
        list_fs, path = split_list_file(fs, folder, name)
        if not list_fs.isfile(path):
            shown = "its file (hidden: a clinical source)" if spec.clinical else repr(name)
            raise SourceError(f"source {spec.name!r}: split list {shown} of split {split!r} does not exist")
        with list_fs.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                if entry := line.strip():
                    listed[entry] = split if listed.get(entry, split) == split else None
    return listed


def with_split(record: SampleRecord, rule: SplitRule, listed: dict[str, str | None] | None = None) -> SampleRecord:
    """`record` with the split its source's rule gives it, and the hash of its group (if it has one).
    listed: the entries of a by="lists" rule's files (split_lists)."""
    group = sample_group(record, rule)
    found = listed_split(record, listed or {}) if rule.by == "lists" else ""
    if rule.by == "fixed":
        split = rule.default
    elif rule.by == "ratio":
        split = ratio_split(group or record.record_id, rule)
    elif rule.by == "lists":
        split = (found if found != _AMBIGUOUS else "") or rule.default
    else:
        split = record.split or rule.default
    group_id = hashlib.sha256(f"{record.source}\x00{group}".encode()).hexdigest()[:32] if group else None
    record = replace(record, split=split or None, group_id=group_id)
    if record.error is None and found == _AMBIGUOUS:
        return fail(record, "ambiguous_split", "named in the split lists of two splits")
    if record.error is None and rule.by == "lists" and not split:
        return fail(record, "not_in_split_list", f"named in none of the split lists ({', '.join(s for s, _ in rule.lists)})"
                                                 " and the split rule has no default")
    if record.error is None and split not in SPLITS:  # a split the data states: the rule's are checked
        return fail(record, "unknown_split", f"split {split!r} is none of {', '.join(SPLITS)} "
                                             f"(nor their spellings {', '.join(sorted(SPLIT_NAMES))})")
    return record


def listed_split(record: SampleRecord, listed: dict[str, str | None]) -> str:
    """The split the lists give `record`, matched by its id, its path or its file name: _AMBIGUOUS
    when it is listed under two splits, '' when under none."""
    path = record.path or ""
    for key in dict.fromkeys((record.record_id, path, posixpath.basename(path))):
        if key and key in listed:
            return listed[key] or _AMBIGUOUS
    return ""


def sample_group(record: SampleRecord, rule: SplitRule) -> str:
    """The unit (patient, study, volume) `record` belongs to: what the rule's group_pattern finds in
    its path (its first group if it has one), else the reader's group (a manifest's group_column, a
    DICOM patient, a NIfTI volume); empty when neither names one (the record is its own unit)."""
    if rule.group_pattern:
        found = re.search(rule.group_pattern, record.path or record.record_id)
        if found:
            return "path:" + (found.group(1) if found.groups() else found.group(0))
    return record.group


def ratio_split(group: str, rule: SplitRule) -> str:
    """A split for `group`, drawn with `rule.ratios` from a hash of the seed and the group."""
    digest = hashlib.sha256(f"{rule.seed}\x00{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    total = sum(w for _, w in rule.ratios)
    acc = 0.0
    for name, weight in rule.ratios:
        acc += weight / total
        if u < acc:
            return name
    return rule.ratios[-1][0]
