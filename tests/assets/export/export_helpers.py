"""Curated-pairs Parquet files for the export tests: real PNG and JPEG bytes, captions, train and test rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

CURATED_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("source", pa.string()),
        ("modality", pa.string()),
        ("label", pa.string()),
        ("split", pa.string()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("image_format", pa.string()),
        ("pixel_sha256", pa.string()),
        ("captions", pa.list_(pa.string())),
        ("caption_origin", pa.string()),
    ]
)


def image_bytes(rng: np.random.Generator, fmt: str, size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def curated_rows(n_train: int = 23, n_test: int = 7, seed: int = 0, source: str = "src") -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            fmt = "png" if i % 3 else "jpeg"
            label = ["normal", "pneumonia"][i % 2]
            rows.append({
                "sample_id": f"{source}/{split}/{i:04d}",
                "source": source,
                "modality": "xray" if i % 4 else "ct",
                "label": label,
                "split": split,
                "image": {"bytes": image_bytes(rng, fmt.upper()), "path": f"{split}/{i}.{fmt}"},
                "image_format": fmt,
                "pixel_sha256": f"{i:064x}",
                "captions": [f"Chest X-ray {k} showing {label}." for k in range(4)],
                "caption_origin": "template" if i % 5 == 0 else "llm",
            })
    return rows


def write_curated(path: Path, rows: list[dict]) -> str:
    pq.write_table(pa.Table.from_pylist(rows, schema=CURATED_SCHEMA), path, row_group_size=8)
    return str(path)
