"""Export: curated training pairs as WebDataset shards with a Parquet manifest."""

import dagster as dg

from assets import layout
from assets.export.webdataset import export_shards
from pipelines.resources import StorageResource


class ExportConfig(dg.Config):
    # Target samples per shard (UniMed uses 1000).
    samples_per_shard: int = 1000
    # Seed of the per-sample caption pick written to .txt.
    seed: int = 0


@dg.asset(group_name="export", deps=["curated_pairs"], kinds={"webdataset", "parquet"}, code_version="1")
def webdataset_shards(config: ExportConfig, storage: StorageResource) -> dg.MaterializeResult:
    """Training pairs as `train-{000000..}.tar` WebDataset shards (.png/.jpg, .txt, .json per sample),
    a Parquet manifest of every sample and shard, and sizes.json for open_clip."""
    stats = export_shards(
        storage.path(layout.CURATED_PAIRS),
        storage.dir(layout.SHARDS),
        samples_per_shard=config.samples_per_shard,
        seed=config.seed,
    )
    return dg.MaterializeResult(
        metadata={
            "num_samples": stats["num_samples"],
            "num_shards": stats["num_shards"],
            "shards": stats["shards"],
            "manifest": dg.MetadataValue.path(stats["manifest"]),
            "bytes": stats["bytes"],
            "mb_per_s": stats["mb_per_s"],
            "skipped": dg.MetadataValue.json(stats["skipped"]),
        }
    )
