"""Readers: turn the datasets users hold into SampleRecords that ingest_rows takes as rows.

    src = read_source(spec)            # spec.format picks the reader in READERS
    ingest_rows(src.rows(), root=src.root, ...)
"""

from assets.sources.readers.records import MissingSource, SampleRecord, SourceError
from assets.sources.readers.registry import (
    READERS,
    Reader,
    SourceRead,
    read_source,
    validate_options,
)

__all__ = ["READERS", "MissingSource", "Reader", "SampleRecord", "SourceError", "SourceRead", "read_source", "validate_options"]
