"""JSON manifests (format json): one document holding a list of row objects, as LLaVA-Med ships its
figure captions (`llava_med_alignment_500k.json`: a list of {id, image, conversations}).

Every option of the CSV / JSONL manifests applies (readers/manifest.py), columns included as dotted
paths into nested objects and lists (LLaVA-Med's caption, `conversations.1.value`: the gpt turn that
answers "describe the figure"), plus `records`, where the rows are in the document. Python's json has
no streaming parser, so the document is loaded whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fsspec import AbstractFileSystem

from assets.sources.catalog import SourceSpec
from assets.sources.readers.manifest import (  # noqa: F401 - json's root and inputs, for the registry
    ManifestOptions,
    RowReader,
    manifest_inputs,
    manifest_root,
)
from assets.sources.readers.records import SampleRecord, SourceError, parse_options


@dataclass(frozen=True)
class JsonManifestOptions(ManifestOptions):
    # Where the row objects are in the JSON document: "" its top level is their list; a key: the list
    # under that key; "*": the top level maps keys to lists of rows, read one after another.
    records: str = ""

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.records, str):
            raise SourceError(f"option records must be \"\", a key or \"*\", not {self.records!r}")


def read_json(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    """Rows of one JSON document, held in memory whole while its rows are read."""
    opts = parse_options(JsonManifestOptions, spec.options, spec.format or "json")
    shown = spec.shown_location() if spec.clinical else repr(location)
    with fs.open(location, "rb", compression="infer") as f:
        try:
            document = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SourceError(f"manifest {shown} is not a JSON document: {e}") from None
    rows = RowReader(spec, opts, fs, location, unit="record")
    for number, row in enumerate(_json_rows(document, opts.records, shown), start=1):
        if isinstance(row, dict):
            yield rows.record(row, number)
        else:
            yield rows.failed(number, "bad_row", f"a JSON {type(row).__name__}, not an object")


def _json_rows(document: Any, records: str, shown: str) -> list:
    """The list of rows the `records` option points at in `document`."""
    if records == "*" and isinstance(document, dict) and all(isinstance(v, list) for v in document.values()):
        return [row for rows in document.values() for row in rows]
    found = document.get(records) if records and isinstance(document, dict) else (None if records else document)
    if not isinstance(found, list):
        where = {"": "its top level", "*": "every value of its top level"}.get(records, f"key {records!r}")
        raise SourceError(f"manifest {shown} holds no list of rows at {where} (option records)")
    return found
