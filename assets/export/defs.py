"""Export: curated training pairs as WebDataset shards with Parquet manifests, and the data card of the
exported dataset."""

from typing import Literal

import dagster as dg

from assets.export.data_card import (
    build_data_card,
    card_table,
    write_data_card,
)
from assets.export.identifier_check import check_no_identifiers, digest_files
from assets.export.mixture import mixture_markdown, read_mixture
from assets.export.shard_writer import DEFAULT_MAX_SHARD_BYTES
from assets.export.webdataset import EXPORT_LOG_NAME, MANIFEST_NAME, export_shards
from assets.ingest.parts import source_parts
from assets.shared import layout
from assets.shared.metadata import md_table
from assets.shared.storage import StorageResource
from assets.sources.readers.clinical import privacy_salt
from assets.sources.readers.identifiers import IdentifierLeak
from assets.sources.resource import SourceCatalogResource


class ExportConfig(dg.Config):
    # Target samples per shard (UniMed uses 1000).
    samples_per_shard: int = 1000
    # A shard closes before it would pass this many bytes.
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES
    # all: every caption of the sample in .txt, one per line (the trainer draws one per load);
    # one: a single caption picked by a seeded hash of the sample id.
    captions: Literal["all", "one"] = "all"
    # Seed of the caption pick when captions is "one", and of the source mixture's draws (which pairs a
    # cap keeps, which get a weight's fractional extra copy).
    seed: int = 0
    # Keep shards an earlier run completed with the same bytes.
    resume: bool = True


# source_catalog: each source's mixture (weight or cap) is read from its entry.
@dg.asset(group_name="export", deps=["curated_pairs", "source_catalog"], kinds={"webdataset", "parquet"},
          code_version="3",
          # No identifier of a clinical source in any shard member or manifest; a hit removes the shards
          # and fails the step, naming file and member.
          check_specs=[dg.AssetCheckSpec("no_identifiers", asset="webdataset_shards", blocking=True)])
def webdataset_shards(config: ExportConfig, storage: StorageResource,
                      catalog: SourceCatalogResource) -> dg.MaterializeResult:
    """Training pairs as `train-{000000..}.tar` WebDataset shards (.png/.jpg, .txt, .json per sample),
    each source weighted or capped as its catalog entry says; Parquet manifests of every sample and shard,
    a log of the pairs not exported, the mixture applied, and sizes.json for open_clip."""
    out_dir = storage.dir(layout.SHARDS)
    stats = export_shards(
        storage.path(layout.CURATED_PAIRS),
        out_dir,
        samples_per_shard=config.samples_per_shard,
        max_shard_bytes=config.max_shard_bytes,
        captions=config.captions,
        seed=config.seed,
        mixture={spec.name: spec.mixture for spec in catalog.sources()},
        resume=config.resume,
    )
    try:
        privacy = check_no_identifiers(
            digest_files(storage.path(layout.RAW_SAMPLES), layout.IDENTIFIER_DIGESTS),
            [f"{out_dir.rstrip('/')}/{name}" for name in stats["shard_sha256"]],
            # the export's manifests and log, and what curation wrote beside the pairs (its log and clusters)
            [stats["manifest"], stats["shard_index"], stats["export_log"], storage.path(layout.CURATED_PAIRS),
             storage.path(layout.CURATION_LOG), storage.path(layout.NEAR_DUPLICATE_CLUSTERS)],
            salt=privacy_salt)
    except IdentifierLeak as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None
    shards = sorted(stats["shard_sha256"].items())
    preview = md_table([(name, sha[:16]) for name, sha in shards[:10]], ("shard", "sha256"))
    return dg.MaterializeResult(
        metadata={
            "num_samples": stats["num_samples"],
            "num_pairs": stats["num_pairs"],
            "num_shards": stats["num_shards"],
            "shards": stats["shards"],
            "manifest": dg.MetadataValue.path(stats["manifest"]),
            "shard_index": dg.MetadataValue.path(stats["shard_index"]),
            "bytes": stats["bytes"],
            "mb_per_s": stats["mb_per_s"],
            "shards_written": stats["shards_written"],
            "shards_reused": stats["shards_reused"],
            "skipped": dg.MetadataValue.json(stats["skipped"]),
            # Exported samples by where their captions came from (native, cleaned, condensed, llm, template).
            "by_caption_origin": dg.MetadataValue.json(stats["by_caption_origin"]),
            "splits": dg.MetadataValue.json(stats["splits"]),
            "export_log": dg.MetadataValue.path(stats["export_log"]),
            "mixture": dg.MetadataValue.md(mixture_markdown(stats["mixture"])),
            "preview": dg.MetadataValue.md(preview + ("\n\n(first 10 shards)" if len(shards) > 10 else "")),
        },
        check_results=[dg.AssetCheckResult(check_name="no_identifiers", passed=True, metadata=privacy)],
    )


@dg.asset(group_name="export", kinds={"json", "markdown"}, code_version="1",
          deps=["webdataset_shards", "curated_pairs", "curation_log", "class_captions", "raw_samples",
                "source_catalog"],
          check_specs=[dg.AssetCheckSpec("counts_balance", asset="data_card",
                                         description="Per source and modality, every input read is counted once: "
                                                     "dropped at a stage, held out, or exported.")])
def data_card(storage: StorageResource, catalog: SourceCatalogResource) -> dg.MaterializeResult:
    """The data card of the exported dataset: per source and modality, inputs read, kept and dropped by
    reason at ingest, curation and export, license and redistribution, caption origins and the mixture
    (data_card.json and data_card.md beside the shards)."""
    specs = catalog.sources()
    names = [s.name for s in specs]
    shards = storage.path(layout.SHARDS)
    card = build_data_card(
        specs, raw_parts=source_parts(storage.path(layout.RAW_SAMPLES), names)[0],
        quarantine_parts=source_parts(storage.path(layout.QUARANTINE), names)[0],
        curated_pairs=storage.path(layout.CURATED_PAIRS), curation_log=storage.path(layout.CURATION_LOG),
        class_captions=storage.path(layout.CLASS_CAPTIONS), manifest=f"{shards}/{MANIFEST_NAME}",
        export_log=f"{shards}/{EXPORT_LOG_NAME}", mixture=read_mixture(storage.path(layout.SHARDS_MIXTURE)))
    json_path, md_path = storage.path(layout.DATA_CARD_JSON), storage.path(layout.DATA_CARD_MD)
    write_data_card(card, json_path, md_path)
    unbalanced = [f"{r['source']}/{r['modality']}" for r in card["rows"] if not r["balanced"]]
    return dg.MaterializeResult(
        metadata={
            "read": card["totals"].get("read", 0),
            "exported_pairs": card["totals"].get("exported_pairs", 0),
            "samples": card["totals"].get("samples", 0),
            "dropped": dg.MetadataValue.json(card["totals"]["dropped"]),
            "json": dg.MetadataValue.path(json_path),
            "markdown": dg.MetadataValue.path(md_path),
            "data_card": dg.MetadataValue.md(card_table(card)),
        },
        check_results=[dg.AssetCheckResult(check_name="counts_balance", passed=card["balanced"],
                                           metadata={"unbalanced": dg.MetadataValue.json(unbalanced)})],
    )
