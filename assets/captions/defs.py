"""Class captions: an LLM turns every class of every source into several validated captions."""

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from assets import layout
from assets.captions.synthesize import synthesize_class_captions
from assets.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES
from pipelines.resources import CaptionBackendResource, StorageResource


class ClassCaptionsConfig(dg.Config):
    # Valid captions wanted per class (UniMed uses about 10).
    captions_per_class: int = 10
    # Generation rounds that retry rejected captions before templates fill the gap.
    max_rounds: int = 3
    seed: int = 0


@dg.asset(
    group_name="captions",
    deps=["synthetic_source"],
    kinds={"pytorch", "parquet"},
    code_version="1",
    pool="gpu",
    check_specs=[dg.AssetCheckSpec("every_class_has_captions", asset="class_captions", blocking=True)],
)
def class_captions(
    config: ClassCaptionsConfig, storage: StorageResource, caption_llm: CaptionBackendResource
) -> dg.MaterializeResult:
    """For every (source, class): LLM-written captions with model id, prompt version and a
    validation verdict (rejected attempts kept with their reason)."""
    backend = caption_llm.build()
    rows, stats = synthesize_class_captions(
        backend, list(SYNTHETIC_SOURCES), captions_per_class=config.captions_per_class,
        max_rounds=config.max_rounds, seed=config.seed,
    )
    out_path = storage.path(layout.CLASS_CAPTIONS)
    pq.write_table(pa.Table.from_pylist(rows), out_path)
    valid = [r for r in rows if r["status"] == "valid"]
    counts = {(r["source"], r["label"]) for r in valid}
    expected = {(s.name, c.name) for s in SYNTHETIC_SOURCES for c in s.classes}
    return dg.MaterializeResult(
        metadata={
            "model_id": backend.model_id,
            "generated": stats["generated"],
            "valid": len(valid),
            "pass_rate": stats["pass_rate"],
            # Share of the final captions written by the LLM rather than filled in from templates.
            "llm_fraction": stats["llm_fraction"],
            "seconds": stats["seconds"],
            "tokens_per_s": stats["tokens_per_s"],
            "rejected_by_reason": dg.MetadataValue.json(stats["rejected_by_reason"]),
            "template_fallbacks": dg.MetadataValue.json(stats["template_fallbacks"]),
            "path": dg.MetadataValue.path(out_path),
            "preview": dg.MetadataValue.md(
                md_table([(r["source"], r["label"], r["caption"]) for r in valid[:: max(1, len(valid) // 12)]],
                         ("source", "class", "caption"))
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="every_class_has_captions",
                passed=expected <= counts,
                metadata={"classes_without_captions": dg.MetadataValue.json(sorted(map(list, expected - counts)))},
            )
        ],
    )
