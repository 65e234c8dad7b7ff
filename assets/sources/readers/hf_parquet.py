"""Parquet files with image bytes in the Hugging Face `datasets` layout: an `image` column of
struct<bytes, path> (or plain binary), a `label` column of ints (ClassLabel names from the
file's `huggingface` schema metadata, else the catalog's classes in order), strings, or lists
of either (multi-label), an optional caption column, and the split in the file name
(`train-00000-of-00004.parquet`), a split folder, or a split column. Read in row batches.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from assets.sources.catalog import SourceSpec
from assets.sources.readers.imagefolder import list_files
from assets.sources.readers.records import (
    SPLIT_NAMES,
    LabelResolver,
    SampleRecord,
    SourceError,
    fail,
    multilabel_text,
    new_record,
    parse_options,
    relative,
)

_SPLIT_IN_NAME = re.compile(r"^(train|training|validation|valid|val|dev|test|testing)(?=[-_.])", re.I)


@dataclass(frozen=True)
class HFParquetOptions:
    image_column: str = "image"
    label_column: str = "label"
    caption_column: str = "caption"
    batch_size: int = 64


def file_split(rel: str) -> str | None:
    """The split a Hugging Face file path states: its name's prefix or a split folder."""
    match = _SPLIT_IN_NAME.match(posixpath.basename(rel))
    if match:
        return SPLIT_NAMES[match.group(1).lower()]
    folders = [SPLIT_NAMES[p.lower()] for p in rel.split("/")[:-1] if p.lower() in SPLIT_NAMES]
    return folders[-1] if folders else None


def class_label_names(schema: pa.Schema, column: str) -> list[str] | None:
    """ClassLabel names of `column` from the `huggingface` schema metadata, if it has them."""
    raw = (schema.metadata or {}).get(b"huggingface")
    try:
        feature = json.loads(raw)["info"]["features"][column] if raw else None
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(feature, dict) and feature.get("_type") in ("Sequence", "List"):
        feature = feature.get("feature")
    return list(feature["names"]) if isinstance(feature, dict) and "names" in feature else None


def read_hf_parquet(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(HFParquetOptions, spec.options, "hf_parquet")
    root = location if fs.isdir(location) else posixpath.dirname(location)
    for path in (p for p in list_files(fs, location) if p.endswith(".parquet")):
        rel = relative(path, root)
        try:
            with fs.open(path, "rb") as f:
                yield from _read_file(spec, opts, pq.ParquetFile(f), rel)
        except (pa.ArrowException, OSError) as e:
            yield fail(new_record(spec, f"{rel}#unreadable"), "corrupt_archive", f"{type(e).__name__}: {e}")


def _read_file(spec: SourceSpec, opts: HFParquetOptions, pf: pq.ParquetFile, rel: str) -> Iterator[SampleRecord]:
    schema = pf.schema_arrow
    if opts.image_column not in schema.names:
        raise SourceError(f"{rel}: no image column {opts.image_column!r}; columns: {schema.names}")
    if spec.kind == "image_text" and opts.caption_column not in schema.names:
        raise SourceError(f"{rel}: no caption column {opts.caption_column!r}; columns: {schema.names}")
    wanted = [c for c in (opts.image_column, opts.label_column, opts.caption_column, spec.split.column)
              if c in schema.names]
    names = class_label_names(schema, opts.label_column) or spec.class_names() or None
    labels = LabelResolver(spec)
    split = file_split(rel)
    index = 0
    for batch in pf.iter_batches(batch_size=opts.batch_size, columns=list(dict.fromkeys(wanted))):
        for row in batch.to_pylist():
            given = str(row.get(spec.split.column) or "").strip().lower()
            record = new_record(spec, f"{rel}#{index}", split=SPLIT_NAMES.get(given, given or split))
            yield _fill(spec, opts, record, row, names, labels)
            index += 1


def _label_name(value: Any, names: list[str] | None) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if names is None:
            return str(value)
        if not 0 <= value < len(names):
            raise KeyError(f"class index {value} out of range for {len(names)} classes")
        return names[value]
    return str(value)


def _fill(spec: SourceSpec, opts: HFParquetOptions, record: SampleRecord, row: dict[str, Any],
          names: list[str] | None, labels: LabelResolver) -> SampleRecord:
    image = row.get(opts.image_column)
    data = image.get("bytes") if isinstance(image, dict) else image
    if not data:
        where = image.get("path") if isinstance(image, dict) else None
        return fail(record, "missing_image", f"no image bytes (path {where!r})")
    caption = row.get(opts.caption_column)
    if isinstance(caption, bytes):
        try:
            caption = caption.decode("utf-8")
        except UnicodeDecodeError as e:
            return fail(record, "bad_encoding", f"caption is not UTF-8: {e}")
    record.caption = caption.strip() if isinstance(caption, str) and caption.strip() else None
    if spec.kind == "image_text" and not record.caption:
        return fail(record, "missing_caption", f"no {opts.caption_column!r} value")
    value = row.get(opts.label_column)
    try:
        if isinstance(value, list):
            record.labels = labels.many(_label_name(v, names) for v in value)
            record.label = multilabel_text(record.labels)
        elif value is not None:
            record.label = labels.one(_label_name(value, names))
    except KeyError as e:
        return fail(record, "unknown_label", str(e.args[0]))
    if spec.kind == "classification" and record.label is None:
        return fail(record, "missing_label", f"no {opts.label_column!r} value")
    record.image_bytes = bytes(data)
    return record
