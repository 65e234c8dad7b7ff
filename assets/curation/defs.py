"""Curation: quality filters, decontamination, exact and near-dup dedup and caption assignment in
DuckDB, with a log of every drop."""

import dagster as dg
import fsspec

from assets.curation import report
from assets.curation.curate import (CurationParams, account, balanced, check_invariants, curate,
                                    training_patients_with_evaluation)
from assets.ingest.parts import source_parts
from assets.shared import layout
from assets.shared.metadata import md_table
from assets.shared.params_config import config_from_params
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource


# The samples and their captions: class captions for classification sets, their own text for image-text sets.
CAPTIONED_SAMPLES = ["raw_samples", "class_captions", "native_text_captions"]


class CurationConfig(config_from_params(CurationParams)):
    """Thresholds of the curation (each field: CurationParams in curate.py)."""


@dg.multi_asset(
    specs=[
        dg.AssetSpec("curated_pairs", deps=CAPTIONED_SAMPLES, group_name="curation",
                     kinds={"duckdb", "parquet"}, code_version="3",
                     description="Image-caption pairs that survive quality filters, decontamination and "
                                 "exact and near-duplicate dedup: training pairs with their captions and "
                                 "where each came from, "
                                 "and the protected evaluation (test) images."),
        dg.AssetSpec("curation_log", deps=CAPTIONED_SAMPLES, group_name="curation",
                     kinds={"duckdb", "parquet"}, code_version="3",
                     description="One row per dropped sample with its reason and, for duplicates, "
                                 "the sample it duplicates and their Hamming distance."),
    ],
    check_specs=[
        dg.AssetCheckSpec("counts_balance", asset="curated_pairs", blocking=True),
        dg.AssetCheckSpec("no_evaluation_image_in_training", asset="curated_pairs", blocking=True),
        dg.AssetCheckSpec("no_evaluation_near_duplicate_in_training", asset="curated_pairs", blocking=True),
        dg.AssetCheckSpec("no_evaluation_patient_in_training", asset="curated_pairs", blocking=True,
                          description="No training pair shares a patient (study, volume) with an evaluation pair."),
        dg.AssetCheckSpec("unique_training_pixels", asset="curated_pairs", blocking=True),
    ],
)
def curation(config: CurationConfig, storage: StorageResource, catalog: SourceCatalogResource):
    pairs_path = storage.path(layout.CURATED_PAIRS)
    log_path = storage.path(layout.CURATION_LOG)
    # Every catalog source with ingested parts; a source never ingested yet is named in metadata.
    # Catalog order is source priority: of two duplicates alike otherwise, the earlier source's is kept.
    sources = [s.name for s in catalog.sources()]
    raw_parts, not_ingested = source_parts(storage.path(layout.RAW_SAMPLES), sources)
    if not raw_parts:
        raise dg.Failure(description=f"no catalog source has been ingested yet: {not_ingested}")
    text_captions = storage.path(layout.NATIVE_TEXT_CAPTIONS)
    fs, text_path = fsspec.core.url_to_fs(text_captions)
    if not fs.exists(text_path):  # without it every image-text sample would be dropped
        raise dg.Failure(description="native_text_captions has not been materialized yet: it comes first")
    stats = curate(
        raw_parts,
        storage.path(layout.CLASS_CAPTIONS),
        pairs_path,
        log_path,
        out_clusters=storage.path(layout.NEAR_DUPLICATE_CLUSTERS),
        text_captions=text_captions,
        params=config.params(),
        source_priority=sources,
    )
    invariants = check_invariants(pairs_path, near_duplicate_radius=config.near_duplicate_radius)
    patients = training_patients_with_evaluation(pairs_path, raw_parts)
    # Counted from the files, not from the stats (whose samples_in is kept + dropped by definition).
    accounts = account(raw_parts, pairs_path, log_path, text_captions)
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
            # Kept pairs by where their captions came from: native, cleaned, condensed (an image-text
            # sample's own text), llm, template (class captions); none: a test image without one.
            "kept_by_caption_origin": dg.MetadataValue.json(stats["kept_by_origin"]),
            "caption_origins_by_source": dg.MetadataValue.md(md_table(
                [(s, o, n) for s, by in stats["kept_by_caption_origin"].items() for o, n in by.items()],
                ("source", "caption origin", "kept"))),
            "decontamination": dg.MetadataValue.md(report.decontamination(stats)),
            "near_duplicate_clusters": dg.MetadataValue.md(report.largest_clusters(stats)),
            "near_duplicate_examples": dg.MetadataValue.md(report.example_pairs(stats)),
            "near_duplicate_search": dg.MetadataValue.json(stats["near_duplicates"]),
            "clusters_path": dg.MetadataValue.path(storage.path(layout.NEAR_DUPLICATE_CLUSTERS)),
            "params": dg.MetadataValue.json(stats["params"]),
        },
    )
    yield dg.MaterializeResult(
        asset_key="curation_log",
        metadata={
            "dropped": stats["dropped"],
            "path": dg.MetadataValue.path(log_path),
            "dropped_by_reason": dg.MetadataValue.json(stats["dropped_by_reason"]),
            "summary": dg.MetadataValue.md(report.summary_by_reason(stats)),
        },
    )
    yield dg.AssetCheckResult(
        asset_key="curated_pairs", check_name="counts_balance",
        passed=balanced(accounts), metadata=accounts,
    )
    yield dg.AssetCheckResult(
        asset_key="curated_pairs", check_name="no_evaluation_image_in_training",
        passed=invariants["train_eval_overlap"] == 0,
        metadata={"train_eval_overlap": invariants["train_eval_overlap"]},
    )
    yield dg.AssetCheckResult(
        asset_key="curated_pairs", check_name="no_evaluation_near_duplicate_in_training",
        passed=invariants["train_eval_near_duplicates"] == 0,
        metadata={"train_eval_near_duplicates": invariants["train_eval_near_duplicates"],
                  "radius": config.near_duplicate_radius},
    )
    yield dg.AssetCheckResult(
        asset_key="curated_pairs", check_name="no_evaluation_patient_in_training",
        passed=patients == 0,
        metadata={"train_eval_patients": patients,
                  "removed_as_evaluation_patient": stats["dropped_by_reason"].get("evaluation_patient", 0)},
    )
    yield dg.AssetCheckResult(
        asset_key="curated_pairs", check_name="unique_training_pixels",
        passed=invariants["duplicate_train_hashes"] == 0,
        metadata={"duplicate_train_hashes": invariants["duplicate_train_hashes"]},
    )
