"""The privacy check: no identifier a reader saw in a clinical source (its folder and file names, its
DICOM identity tags, its root) appears in any string of ingest's outputs. A hit names the file and
the column, never the value."""

from __future__ import annotations

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
                    if (name, column) not in hits and any(v and identifiers.found_in(v) for v in values):
                        hits.append((name, column))
    return hits


def _string_columns(batch: pa.RecordBatch) -> Iterator[tuple[str, list]]:
    stack = list(zip(batch.schema.names, batch.columns))
    while stack:
        name, array = stack.pop(0)
        if pa.types.is_struct(array.type):
            stack += [(f"{name}.{array.type.field(i).name}", array.field(i)) for i in range(array.type.num_fields)]
        elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
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
