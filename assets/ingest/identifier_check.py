"""The privacy check: no identifier a reader saw in a clinical source (its folder and file names, its
DICOM identity tags, its root) appears in any string of ingest's outputs: every string column, and
in a JSON column (provenance) every value. A hit names the file and the column, never the value.
`reason` is not searched: it holds codes the code writes ("burned_in_annotation"), never input."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from assets.sources.readers import SourceError
from assets.sources.readers.clinical import Identifiers


class IdentifierLeak(SourceError):
    """An output of a clinical source holds one of its identifiers: nothing is published."""


def find_identifiers(urls: list[str], identifiers: Identifiers, storage_options: dict | None = None,
                     batch_rows: int = 4096) -> list[tuple[str, str]]:
    """(file name, column) for each string column (struct fields as `column.field`) of the Parquet
    files at `urls` where a value holds one of `identifiers`, in file order."""
    hits: list[tuple[str, str]] = []
    if not len(identifiers):
        return hits
    for url in urls:
        name = posixpath.basename(url)
        with fsspec.open(url, "rb", **(storage_options or {})) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
                for column, values in _string_columns(batch):
                    if (name, column) not in hits and any(identifiers.found_in(text) for v in values
                                                          for text in _texts(v)):
                        hits.append((name, column))
    return hits


def _texts(value: str | None) -> list[str]:
    """The strings to search in a column value: a JSON object's values (at any depth, not its keys,
    which the code writes), else the value."""
    if not value:
        return []
    if not value.startswith("{"):
        return [value]
    try:
        stack, out = [json.loads(value)], []
    except ValueError:
        return [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += item.values()
        elif isinstance(item, list):
            stack += item
        elif item is not None:
            out.append(str(item))
    return out


def _string_columns(batch: pa.RecordBatch) -> Iterator[tuple[str, list]]:
    stack = list(zip(batch.schema.names, batch.columns))
    while stack:
        name, array = stack.pop(0)
        if pa.types.is_struct(array.type):
            stack += [(f"{name}.{array.type.field(i).name}", array.field(i)) for i in range(array.type.num_fields)]
        elif (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) and name != "reason":
            yield name, array.to_pylist()


def check_no_identifiers(samples: list[str], quarantine: list[str], identifiers: Identifiers,
                         storage_options: dict | None = None) -> dict:
    """Raise IdentifierLeak naming every (file, column) of the sample and quarantine parts that
    holds an identifier; else the check's counts."""
    hits = [(kind, file, column) for kind, urls in (("samples", samples), ("quarantine", quarantine))
            for file, column in find_identifiers(urls, identifiers, storage_options)]
    if hits:
        raise IdentifierLeak("identifying values of the source (folder or file names, DICOM identity tags) "
                             "found in " + "; ".join(f"{kind} {file} column {column}" for kind, file, column in hits))
    return {"identifiers_searched": len(identifiers), "files_searched": len(samples) + len(quarantine)}
