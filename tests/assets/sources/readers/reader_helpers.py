"""Helpers shared by the reader tests: images, specs, and a run through ingest_rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from assets.ingest.ingest import ingest_rows
from assets.sources.catalog import ClassInfo, SourceSpec, SplitRule
from assets.sources.readers import SourceRead


def png_bytes(value: int = 128, size: int = 16, *, seed: int | None = None, rgb: bool = False) -> bytes:
    """A small PNG: flat `value`, or seeded noise when `seed` is given."""
    shape = (size, size, 3) if rgb else (size, size)
    arr = (np.random.default_rng(seed).integers(0, 256, shape) if seed is not None
           else np.full(shape, value)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def make_spec(fmt: str, location: Path | str, *, classes=(), kind="classification", modality="xray",
              split: SplitRule | None = None, privacy="", **options) -> SourceSpec:
    return SourceSpec(name=f"test_{fmt}", modality=modality, kind=kind, format=fmt, location=str(location),
                      classes=tuple(ClassInfo(c) if isinstance(c, str) else c for c in classes),
                      split=split or SplitRule(), options=options, privacy=privacy)


def run_ingest(src: SourceRead, out_dir: Path) -> tuple[dict, list[dict], list[dict]]:
    """ingest_rows over the source's rows: (stats, sample rows, quarantine rows)."""
    out, bad = out_dir / "samples.parquet", out_dir / "quarantine.parquet"
    stats = ingest_rows(src.rows(), root=src.root, out_path=str(out), quarantine_path=str(bad), batch_size=8)
    assert stats["rows_read"] == stats["ingested"] + stats["quarantined"]
    return stats, pq.read_table(out).to_pylist(), pq.read_table(bad).to_pylist()


def nlmcxr_reports_tgz() -> Path:
    """NLMCXR_reports.tgz as torchxrayvision ships it: the 3,955 real Open-i chest X-ray reports."""
    import importlib.util

    import pytest

    spec = importlib.util.find_spec("torchxrayvision")  # located, not imported (its imports are heavy)
    if spec is None:
        pytest.skip("torchxrayvision is not installed (a dev dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "NLMCXR_reports.tgz"
