"""Curation: dedup, decontamination and caption assignment in DuckDB, with a log of every drop."""

import dagster as dg

from assets import layout
from assets.curation.curate import check_invariants, curate
from assets.ingest.parts import source_parts
from assets.metadata import md_table
from pipelines.resources import SourceCatalogResource, StorageResource


@dg.multi_asset(
    specs=[
        dg.AssetSpec("curated_pairs", deps=["raw_samples", "class_captions"], group_name="curation",
                     kinds={"duckdb", "parquet"}, code_version="1",
                     description="Image-caption pairs that survive dedup and decontamination: "
                                 "training pairs with every valid caption of their class, and the "
                                 "protected evaluation (test) images."),
        dg.AssetSpec("curation_log", deps=["raw_samples", "class_captions"], group_name="curation",
                     kinds={"duckdb", "parquet"}, code_version="1",
                     description="One row per dropped sample with its reason and, for duplicates, "
                                 "the sample kept instead."),
    ],
    check_specs=[
        dg.AssetCheckSpec("counts_balance", asset="curated_pairs", blocking=True),
        dg.AssetCheckSpec("no_evaluation_image_in_training", asset="curated_pairs", blocking=True),
        dg.AssetCheckSpec("unique_training_pixels", asset="curated_pairs", blocking=True),
    ],
)
def curation(storage: StorageResource, catalog: SourceCatalogResource):
    pairs_path = storage.path(layout.CURATED_PAIRS)
    log_path = storage.path(layout.CURATION_LOG)
    # Every catalog source with ingested parts; a source never ingested yet is named in metadata.
    raw_parts, not_ingested = source_parts(storage.path(layout.RAW_SAMPLES), [s.name for s in catalog.sources()])
    if not raw_parts:
        raise dg.Failure(description=f"no catalog source has been ingested yet: {not_ingested}")
    stats = curate(
        raw_parts,
        storage.path(layout.CLASS_CAPTIONS),
        pairs_path,
        log_path,
    )
    invariants = check_invariants(pairs_path)
    by_source = [(s, c.get("kept", 0), sum(c.values()) - c.get("kept", 0)) for s, c in stats["by_source"].items()]
    yield dg.MaterializeResult(
        asset_key="curated_pairs",
        metadata={
            "samples_in": stats["samples_in"],
            "kept": stats["kept"],
            "kept_by_split": dg.MetadataValue.json(stats["kept_by_split"]),
            "sources_not_ingested": dg.MetadataValue.json(not_ingested),
            "path": dg.MetadataValue.path(pairs_path),
            "by_source": dg.MetadataValue.md(md_table(by_source, ("source", "kept", "dropped"))),
        },
    )
    yield dg.MaterializeResult(
        asset_key="curation_log",
        metadata={
            "dropped": stats["dropped"],
            "path": dg.MetadataValue.path(log_path),
            "dropped_by_reason": dg.MetadataValue.json(stats["dropped_by_reason"]),
        },
    )
    yield dg.AssetCheckResult(
        asset_key="curated_pairs", check_name="counts_balance",
        passed=stats["samples_in"] == stats["kept"] + stats["dropped"],
        metadata={k: stats[k] for k in ("samples_in", "kept", "dropped")},
    )
    yield dg.AssetCheckResult(
        asset_key="curated_pairs", check_name="no_evaluation_image_in_training",
        passed=invariants["train_eval_overlap"] == 0,
        metadata={"train_eval_overlap": invariants["train_eval_overlap"]},
    )
    yield dg.AssetCheckResult(
        asset_key="curated_pairs", check_name="unique_training_pixels",
        passed=invariants["duplicate_train_hashes"] == 0,
        metadata={"duplicate_train_hashes": invariants["duplicate_train_hashes"]},
    )
