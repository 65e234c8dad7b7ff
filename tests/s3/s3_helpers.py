"""Helpers for the S3 tests: small images, files put on S3, Parquet read back from S3."""

from __future__ import annotations

import io

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def png_bytes(value: int = 128, size: int = 16, *, seed: int | None = None) -> bytes:
    """A small grayscale PNG: flat `value`, or seeded noise when `seed` is given."""
    arr = (np.random.default_rng(seed).integers(0, 256, (size, size)) if seed is not None
           else np.full((size, size), value)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def put(fs: fsspec.AbstractFileSystem, prefix: str, files: dict[str, bytes | str]) -> None:
    """Write each `files[relative path]` under `prefix` (an s3:// URL)."""
    for rel, data in files.items():
        fs.pipe_file(f"{prefix}/{rel}", data.encode() if isinstance(data, str) else data)


def put_parquet(fs: fsspec.AbstractFileSystem, url: str, rows: list[dict], schema: pa.Schema | None = None) -> None:
    with fs.open(url, "wb") as f:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), f)


def read_parquet(fs: fsspec.AbstractFileSystem, url: str) -> list[dict]:
    with fs.open(url, "rb") as f:
        return pq.read_table(f).to_pylist()
