"""DuckDB over the storage root: one connection that reads and writes local paths and fsspec URLs."""

from __future__ import annotations

import duckdb
import fsspec


def connect(paths: list[str], storage_options: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads and writes `paths`: each remote protocol among them (s3://, gs://,
    ...) is served by its fsspec filesystem, so DuckDB needs no extension download (httpfs)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for protocol in sorted({p.split("://", 1)[0] for p in paths if "://" in p} - {"file"}):
        con.register_filesystem(fsspec.filesystem(protocol, **(storage_options or {})))
    return con
