"""Columns joined into a manifest's rows from another CSV by key (MIMIC-CXR's split and CheXpert-label
CSVs joined to its metadata CSV by dicom_id and by study).

    join:
      - {file: mimic-cxr-2.0.0-split.csv.gz, key: [dicom_id], columns: [split]}
      - {file: mimic-cxr-2.0.0-chexpert.csv.gz, key: [subject_id, study_id], columns: [Edema], required: false}

`file` is relative to the manifest's folder (a CSV, or TSV when named .tsv; compressed files are read
transparently). The join table is read once, before the manifest's rows, into a dict from key to the
joined values (only `key` and `columns` are kept, repeated values stored once: MIMIC-CXR's 377k-row split
CSV holds about 90 MB and loads in about 12 s on a busy 2-core machine); the manifest itself is still
streamed. A row whose key the table lacks is quarantined as
`unmatched_join` when `required` (the default), else gets empty cells; a key the table holds twice
with different values fails the source (the join would be ambiguous). (The key is not named `on`: YAML
reads a bare `on` as true.)
"""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fsspec import AbstractFileSystem

from assets.sources.readers.records import SourceError

_KEYS = {"file", "key", "columns", "required"}


@dataclass(frozen=True)
class JoinSpec:
    file: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    required: bool = True

    def path(self, manifest_location: str) -> str:
        """Where the join file is: `file`, relative to the manifest's folder."""
        return posixpath.normpath(posixpath.join(posixpath.dirname(manifest_location), self.file))


def parse_joins(raw: Any) -> tuple[JoinSpec, ...]:
    """The `join` option as JoinSpecs; SourceError saying what is wrong."""
    raw = [raw] if isinstance(raw, Mapping) else raw
    out = []
    for item in raw or ():
        if isinstance(item, JoinSpec):
            out.append(item)
            continue
        if not isinstance(item, Mapping) or set(item) - _KEYS or not {"file", "key", "columns"} <= set(item):
            raise SourceError(f"option join: each join is {{file, key: [columns], columns: [columns], required}}, "
                              f"not {item!r}")
        key, columns = (_names(item[k], k) for k in ("key", "columns"))
        if not isinstance(item["file"], str) or not item["file"].strip():
            raise SourceError(f"option join: file must be a path relative to the manifest, not {item['file']!r}")
        if not isinstance(item.get("required", True), bool):
            raise SourceError(f"option join: required must be true or false, not {item['required']!r}")
        out.append(JoinSpec(item["file"].strip(), key, columns, item.get("required", True)))
    return tuple(out)


def _names(value: Any, key: str) -> tuple[str, ...]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise SourceError(f"option join: {key} must be a list of column names, not {value!r}")
    return tuple(value)


def _key(row: Mapping[str, Any], columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("" if row.get(c) is None else str(row.get(c)).strip() for c in columns)


class JoinTable:
    """One join's table, loaded from `spec.file` next to the manifest at `manifest_location`."""

    def __init__(self, spec: JoinSpec, fs: AbstractFileSystem, manifest_location: str, *, clinical: bool):
        self.spec = spec
        self.name = posixpath.basename(spec.file)
        # A clinical source's errors name no file: its folder may name a patient.
        self.shown = "a join file" if clinical else f"join file {spec.file!r}"
        path = spec.path(manifest_location)
        self.values: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._seen: dict[str, str] = {}  # one copy of each repeated value ("train", "1.0")
        try:
            with fs.open(path, "rb", compression="infer") as raw:
                self._load(raw, path, clinical)
        except FileNotFoundError:
            raise SourceError(f"{self.shown} does not exist (option join, relative to the manifest's "
                              "folder)") from None

    def _load(self, raw, path: str, clinical: bool) -> None:
        stem = path[: -len(posixpath.splitext(path)[1])] if path.endswith((".gz", ".bz2", ".xz", ".zst")) else path
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.DictReader(text, delimiter="\t" if stem.endswith(".tsv") else ",")
        missing = [c for c in (*self.spec.key, *self.spec.columns) if c not in (reader.fieldnames or [])]
        if missing:
            raise SourceError(f"{self.shown} lacks column(s) {missing}; it has {reader.fieldnames}")
        for row in reader:
            key = _key(row, self.spec.key)
            values = tuple(self._seen.setdefault(v, v) for v in _key(row, self.spec.columns))
            if self.values.setdefault(key, values) != values:
                shown = "a key" if clinical else f"key {dict(zip(self.spec.key, key))}"
                raise SourceError(f"{self.shown} holds {shown} twice with different values: "
                                  "the join is ambiguous")

    def lookup(self, row: Mapping[str, Any]) -> dict[str, str] | None:
        """The joined columns for `row`; None when the table lacks its key and the join is required."""
        found = self.values.get(_key(row, self.spec.key))
        if found is None:
            return None if self.spec.required else dict.fromkeys(self.spec.columns, "")
        return dict(zip(self.spec.columns, found))
