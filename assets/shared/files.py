"""Files that appear whole or not at all: every write of a finished file goes through here.

A file is written under a temporary name beside its final one (`<name>.tmp`, or with `unique`, a
name of its own per writer) and renamed when complete, so a reader (or a re-run after a crash)
never sees half a file. `atomic_write` writes one buffer or callback; `ParquetWriter` streams
batches with the shard writer's contract (`write`, then `close` publishes; leaving its `with` block
on an exception discards the file); `published_together` hands out temporary names for files another
writer makes (DuckDB's COPY) and publishes them all when its block completes.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

TMP_SUFFIX = ".tmp"


def temporary_name(path: str, *, unique: bool = False) -> str:
    """Where `path` is written before it is renamed; `unique` when writers may race for one path."""
    return f"{path}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}" if unique else path + TMP_SUFFIX


def url_to_fs(url: str, storage_options: dict | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(url, **(storage_options or {}))


def atomic_write(fs: fsspec.AbstractFileSystem, path: str, data: bytes | Callable[[IO[bytes]], None], *,
                 durable: bool = False, unique: bool = False) -> None:
    """Write `path` under a temporary name and rename it when complete. `data` is bytes or a function
    taking the open file. With `durable`, a local file is flushed to the device before the rename, so a
    crash never leaves a renamed but incomplete file (shards); small files that a re-run rewrites or
    verifies (stats records, manifests) skip it. On a failure the temporary file is removed."""
    tmp = temporary_name(path, unique=unique)
    try:
        with fs.open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            if durable and isinstance(fs, LocalFileSystem):
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise
    fs.mv(tmp, path)


def write_parquet_table(url: str, table: pa.Table, storage_options: dict | None = None, *,
                        unique: bool = False) -> None:
    """One Arrow table as the Parquet file `url`, atomically (local path or fsspec URL)."""
    fs, path = url_to_fs(url, storage_options)
    atomic_write(fs, path, lambda f: pq.write_table(table, f), unique=unique)


@contextmanager
def published_together(urls: list[str], storage_options: dict | None = None) -> Iterator[list[str]]:
    """Temporary names for `urls` (local paths or fsspec URLs, in order) for the block to write; renamed
    to the final names when it completes, removed when it raises (the final names keep what they held)."""
    temporary = [temporary_name(url) for url in urls]
    try:
        yield temporary
    except BaseException:
        for url in temporary:
            fs, path = url_to_fs(url, storage_options)
            if fs.exists(path):
                fs.rm(path)
        raise
    for url, tmp in zip(urls, temporary, strict=True):
        fs, path = url_to_fs(url, storage_options)
        fs.mv(url_to_fs(tmp, storage_options)[1], path)


class ParquetWriter:
    """Batches of rows into one Parquet file, published by `close()` (see the module docstring).

    `write` takes a pyarrow Table or a {column: values} dict in the schema; empty batches are
    skipped. `dictionary_columns`: the columns dictionary-encoded (default: all).
    """

    def __init__(self, url: str, schema: pa.Schema, *, dictionary_columns: list[str] | bool = True,
                 storage_options: dict | None = None):
        self.fs, self.path = url_to_fs(url, storage_options)
        self.tmp = temporary_name(self.path)
        self.schema = schema
        parent = posixpath.dirname(self.path)
        if parent:
            self.fs.makedirs(parent, exist_ok=True)
        self._file = self.fs.open(self.tmp, "wb")
        self._writer = pq.ParquetWriter(self._file, schema, use_dictionary=dictionary_columns)
        self._open = True

    def write(self, batch: pa.Table | dict[str, list]) -> None:
        if isinstance(batch, dict):
            if not batch or not next(iter(batch.values())):
                return
            batch = pa.Table.from_pydict(batch, schema=self.schema)
        if batch.num_rows:
            self._writer.write_table(batch)

    def close(self) -> None:
        """Finish the file and publish it under its final name."""
        self._finish()
        self.fs.mv(self.tmp, self.path)

    def discard(self) -> None:
        """Drop what was written; the final name is left as it was."""
        self._finish()
        if self.fs.exists(self.tmp):
            self.fs.rm(self.tmp)

    def _finish(self) -> None:
        if not self._open:
            raise ValueError(f"{self.path}: the writer is already closed")
        self._open = False
        self._writer.close()
        self._file.close()

    def __enter__(self) -> ParquetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._open:
            return
        if exc_type is None:
            self.close()
        else:
            self.discard()


@contextmanager
def local_folder(url: str, *, write_back: bool = False) -> Iterator[str]:
    """The folder `url` as a local path, for tools that take only local paths (open_clip's trainer, torch
    checkpoints): `url` itself when it is local; else a temporary folder holding a copy of what `url`
    holds, removed afterwards, its files copied back to `url` when the block completes and `write_back`
    is set (nothing when it raises). So a step on any worker reads and writes only the storage root."""
    fs, path = url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        os.makedirs(path, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="medpairs-folder-") as local:
        if fs.exists(path):
            fs.get(path.rstrip("/") + "/", local + "/", recursive=True)
        yield local
        if write_back:
            fs.put(local + "/", path.rstrip("/") + "/", recursive=True)
