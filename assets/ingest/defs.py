"""Ingest, one partition per catalog source: every image decoded, normalized, hashed and written to
Parquet, or quarantined with a reason."""

import dagster as dg

from assets.ingest.chunked import ingest_if_changed
from assets.shared import layout
from assets.shared.metadata import md_counts
from assets.shared.progress import StepProgress
from assets.shared.storage import StorageResource
from assets.sources.defs import source_partitions
from assets.sources.readers import SourceError
from assets.sources.resource import SourceCatalogResource
from assets.sources.synthetic import synthetic_manifest_spec


class IngestConfig(dg.Config):
    # Longest side of a stored image; larger images are downscaled keeping their aspect ratio.
    max_side: int = 512
    # Rows per part file; a large source splits into parts that worker processes ingest in parallel.
    chunk_rows: int = 20000
    # Worker processes (each reads, normalizes and writes whole parts).
    workers: int = 1


@dg.asset(
    partitions_def=source_partitions,
    group_name="ingest",
    deps=["source_catalog", "synthetic_source", "source_files"],
    kinds={"python", "parquet"},
    code_version="5",
    check_specs=[dg.AssetCheckSpec("counts_balance", asset="raw_samples", blocking=True),
                 # No folder or file name and no DICOM identity value of a clinical source in any output
                 # column (an ingest with a hit publishes nothing and fails, naming file and column).
                 dg.AssetCheckSpec("no_identifiers", asset="raw_samples", blocking=True),
                 # A source whose location does not exist is ingested as empty and warned of here (not
                 # blocking: the sources that are there go on downstream).
                 dg.AssetCheckSpec("source_found", asset="raw_samples",
                                   description="The source's location exists (a missing one is ingested as empty).")],
)
def raw_samples(context: dg.AssetExecutionContext, config: IngestConfig, storage: StorageResource,
                catalog: SourceCatalogResource) -> dg.MaterializeResult:
    """One row per input image of a source (normalized bytes, pixel sha256, 64-bit pHash, size,
    pixel statistics, modality, label, split, provenance), plus a quarantine with a reason for
    every input that could not be used."""
    name = context.partition_key
    out_dir, quarantine_dir = storage.path(layout.RAW_SAMPLES, name), storage.path(layout.QUARANTINE, name)
    try:
        spec = catalog.source(name)
        if spec.format == "synthetic":
            spec = synthetic_manifest_spec(spec, storage.path(layout.SYNTHETIC_SOURCE))
        # Rows and parts written so far, in the run log every ~10 s (and a bar on a terminal).
        progress = StepProgress(f"ingest {name}", unit="rows", log_line=context.log.info)
        stats, skipped, version = ingest_if_changed(
            spec, out_dir=out_dir, quarantine_dir=quarantine_dir, chunk_rows=config.chunk_rows,
            workers=config.workers, max_side=config.max_side,
            code_version=context.assets_def.code_versions_by_key[context.asset_key], progress=progress)
        progress.close()
    except (KeyError, SourceError) as e:
        raise dg.Failure(description=f"source {name!r} cannot be ingested: {e}", allow_retries=False) from e
    except (ConnectionError, TimeoutError) as e:
        # Reading a remote source can fail for a moment (throttling, a dropped connection): tried again
        # then, and only then (a missing source, a wrong setting or an interrupt is not retried).
        raise dg.RetryRequested(max_retries=2, seconds_to_wait=5 * 2**context.retry_number) from e
    counts = {k: stats[k] for k in ("rows_read", "ingested", "quarantined")}
    missing = stats.get("missing_source", "")
    if missing:
        missing += f"; get it: {spec.download}" if spec.download else ""
        context.log.warning(f"ingested as empty, the other sources go on: {missing}")
    return dg.MaterializeResult(
        metadata={
            **counts,
            "parts": stats["parts"],
            # True when the source, the settings and the code are as at the last ingest (outputs kept).
            "unchanged": skipped,
            "version": version,
            "images_per_s": stats["images_per_s"],
            **({} if spec.clinical else {"location": spec.location}),
            "privacy": spec.privacy,
            **({"missing_source": missing} if missing else {}),
            "path": dg.MetadataValue.path(out_dir),
            "quarantine_path": dg.MetadataValue.path(quarantine_dir),
            "quarantine_reasons": dg.MetadataValue.md(md_counts(stats["quarantine_reasons"], "reason")),
        },
        data_version=dg.DataVersion(version),
        check_results=[dg.AssetCheckResult(
            check_name="counts_balance", passed=stats["rows_read"] == stats["ingested"] + stats["quarantined"],
            metadata=counts),
            dg.AssetCheckResult(check_name="no_identifiers", passed="privacy" in stats,
                                metadata=stats.get("privacy", {})),
            dg.AssetCheckResult(check_name="source_found", passed=not missing, severity=dg.AssetCheckSeverity.WARN,
                                metadata={"missing_source": missing} if missing else {})],
    )
