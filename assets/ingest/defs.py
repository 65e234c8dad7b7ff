"""Ingest: every source image decoded, normalized, hashed and written to Parquet, or quarantined."""

import json

import dagster as dg
import fsspec

from assets import layout
from assets.ingest.ingest import ingest_rows
from assets.metadata import md_counts
from pipelines.resources import StorageResource


class IngestConfig(dg.Config):
    # Longest side of a stored image; larger images are downscaled keeping their aspect ratio.
    max_side: int = 512


@dg.asset(
    group_name="ingest",
    deps=["synthetic_source"],
    kinds={"python", "parquet"},
    code_version="1",
    check_specs=[dg.AssetCheckSpec("counts_balance", asset="raw_samples", blocking=True)],
)
def raw_samples(config: IngestConfig, storage: StorageResource) -> dg.MaterializeResult:
    """One row per input image (normalized bytes, pixel sha256, 64-bit pHash, size, modality, label,
    split, provenance), plus a quarantine file with a reason for every image that could not be read."""
    source_dir = storage.path(layout.SYNTHETIC_SOURCE)
    with fsspec.open(f"{source_dir}/manifest.jsonl", "rt") as f:
        rows = [json.loads(line) for line in f]
    out_path = storage.path(layout.RAW_SAMPLES, "synthetic.parquet")
    quarantine_path = storage.path(layout.RAW_SAMPLES, "quarantine", "synthetic.parquet")
    stats = ingest_rows(rows, root=source_dir, out_path=out_path, quarantine_path=quarantine_path,
                        max_side=config.max_side)
    balanced = stats["rows_read"] == stats["ingested"] + stats["quarantined"]
    return dg.MaterializeResult(
        metadata={
            "rows_read": stats["rows_read"],
            "ingested": stats["ingested"],
            "quarantined": stats["quarantined"],
            "images_per_s": stats["images_per_s"],
            "path": dg.MetadataValue.path(out_path),
            "quarantine_path": dg.MetadataValue.path(quarantine_path),
            "quarantine_reasons": dg.MetadataValue.md(md_counts(stats["quarantine_reasons"], "reason")),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="counts_balance",
                passed=balanced,
                metadata={k: stats[k] for k in ("rows_read", "ingested", "quarantined")},
            )
        ],
    )
