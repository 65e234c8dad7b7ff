"""Captions: an LLM turns every label of every source (a class, a multi-label combination, "no
finding") into several validated captions, cached per label; an image-text sample's own text becomes
its caption as its source's catalog entry says (as it is, a cleaned report, or a condensed one)."""

from functools import partial

import dagster as dg
import pyarrow as pa

from assets.captions.cache import cached_synthesize
from assets.captions.condense_cache import cached_condense
from assets.captions.native_text import SCHEMA as NATIVE_TEXT_SCHEMA
from assets.captions.native_text import caption_native_texts, image_text_samples
from assets.captions.resource import CaptionBackendResource, retried_when_unavailable
from assets.captions.targets import targets_for_labels
from assets.captions.vllm_pipes import caption_backend
from assets.ingest.parts import labels_in_data, source_parts
from assets.shared import layout
from assets.shared.files import write_parquet_table
from assets.shared.metadata import md_table
from assets.shared.progress import StepProgress
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource


class ClassCaptionsConfig(dg.Config):
    # Valid captions wanted per class (UniMed uses about 10).
    captions_per_class: int = 10
    # Generation rounds that retry rejected captions before templates fill the gap.
    max_rounds: int = 3
    seed: int = 0


@dg.asset(
    group_name="captions",
    deps=["source_catalog", "raw_samples"],
    kinds={"pytorch", "parquet"},
    code_version="2",
    pool="gpu",
    check_specs=[dg.AssetCheckSpec("every_class_has_captions", asset="class_captions", blocking=True)],
)
def class_captions(
    context: dg.AssetExecutionContext, config: ClassCaptionsConfig, storage: StorageResource, caption_llm: CaptionBackendResource,
    catalog: SourceCatalogResource, pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    """For every (source, label): LLM-written captions with model id, prompt version and a
    validation verdict (rejected attempts kept with their reason)."""
    targets = targets_for_labels(labels_in_data(catalog.sources(), storage.path(layout.RAW_SAMPLES)))
    model_id = caption_llm.caption_model_id()
    context.log.info(f"class captions for {len(targets)} labels from {model_id} (a label's set is generated "
                     "only when it is not in the cache; the model loads first)")
    # Generations done of those asked for so far, in the run log every ~10 s (and a bar on a terminal).
    progress = StepProgress("class captions", unit="generations", log_line=context.log.info)
    # The backend is built (its model loaded; for vllm, its server started through Pipes) only when a
    # label's caption set is not cached yet.
    try:
        with retried_when_unavailable(context.retry_number), \
                caption_backend(caption_llm, context, pipes_subprocess_client) as build:
            rows, stats = cached_synthesize(
                targets, storage.dir(layout.CAPTION_CACHE), model_id=model_id, backend=build,
                generation=caption_llm.caption_generation(), captions_per_class=config.captions_per_class,
                max_rounds=config.max_rounds, seed=config.seed, step_progress=progress,
            )
    finally:
        progress.close()
    out_path = storage.path(layout.CLASS_CAPTIONS)
    write_parquet_table(out_path, pa.Table.from_pylist(rows))  # local or s3:// storage root
    valid = [r for r in rows if r["status"] == "valid"]
    counts = {(r["source"], r["label"]) for r in valid}
    expected = {(t.source.name, t.label) for t in targets}
    return dg.MaterializeResult(
        metadata={
            "model_id": model_id,
            "labels_by_kind": dg.MetadataValue.json(stats["kinds"]),
            # Labels whose caption set came from the cache, and labels generated in this run.
            "cache_hits": stats["cache_hits"],
            "cache_misses": stats["cache_misses"],
            # A run that went on from a killed one: the rounds and generations it took from the checkpoint.
            "resumed_after_round": stats["resumed_after_round"],
            "reused_generations": stats["reused_generations"],
            "generated": stats["generated"],
            "valid": len(valid),
            "pass_rate": stats["pass_rate"],
            # Share of the final captions written by the LLM rather than filled in from templates.
            "llm_fraction": stats["llm_fraction"],
            "seconds": stats["seconds"],
            "tokens_per_s": stats["tokens_per_s"],
            "rounds": dg.MetadataValue.md(md_table([(r["round"], r["requested"], r["valid"], r["seconds"])
                                                    for r in stats["rounds"]], ("round", "requested", "valid", "s"))),
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


class NativeTextCaptionsConfig(dg.Config):
    # Reports condensed per LLM call (report_condensed sources); the cache is written after each call.
    condense_batch: int = 64
    seed: int = 0


@dg.asset(group_name="captions", deps=["source_catalog", "raw_samples"], kinds={"pytorch", "parquet"},
          code_version="1", pool="gpu")
def native_text_captions(
    context: dg.AssetExecutionContext, config: NativeTextCaptionsConfig, storage: StorageResource,
    caption_llm: CaptionBackendResource, catalog: SourceCatalogResource, pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    """For every image-text sample: the caption its own text gives (as it is, a cleaned report, or an LLM
    condensation of one) with that origin, or the reason it gives none."""
    specs = [s for s in catalog.sources() if s.kind == "image_text"]
    parts, _ = source_parts(storage.path(layout.RAW_SAMPLES), [s.name for s in specs])
    progress = StepProgress("report condensation", unit="reports", log_line=context.log.info)
    try:
        # The LLM loads (for vllm, its server starts through Pipes) only if some report asks for
        # condensation and its condensation is not cached.
        with retried_when_unavailable(context.retry_number), \
                caption_backend(caption_llm, context, pipes_subprocess_client) as build:
            condense = partial(cached_condense, cache_dir=storage.dir(layout.CONDENSE_CACHE),
                               model_id=caption_llm.caption_model_id(), backend=build,
                               generation=caption_llm.caption_generation(), seed=config.seed,
                               batch_size=config.condense_batch, step_progress=progress)
            rows, stats = caption_native_texts(image_text_samples(parts), {s.name: s.text for s in specs},
                                               condense=condense)
    finally:
        progress.close()
    out_path = storage.path(layout.NATIVE_TEXT_CAPTIONS)
    write_parquet_table(out_path, pa.Table.from_pylist(rows, schema=NATIVE_TEXT_SCHEMA))
    clinical = {s.name for s in specs if s.clinical}  # its text may name a patient: never previewed
    shown = [r for r in rows if r["caption"] and r["source"] not in clinical]
    return dg.MaterializeResult(metadata={
        "samples": stats["samples"],
        "captioned": stats["captioned"],
        "without_caption": stats["samples"] - stats["captioned"],
        "by_origin": dg.MetadataValue.md(md_table(_per_source(stats["by_origin"]), ("source", "origin", "samples"))),
        "by_reason": dg.MetadataValue.md(md_table(_per_source(stats["by_reason"]), ("source", "reason", "samples"))),
        # Distinct reports condensed from the cache, and condensed in this run.
        "condense_cache_hits": stats["condense"].get("cache_hits", 0),
        "condense_cache_misses": stats["condense"].get("cache_misses", 0),
        "path": dg.MetadataValue.path(out_path),
        "preview": dg.MetadataValue.md(md_table([(r["source"], r["origin"], r["caption"])
                                                 for r in shown[:: max(1, len(shown) // 12)]],
                                                ("source", "origin", "caption"))),
    })


def _per_source(counts: dict[str, dict[str, int]]) -> list[tuple[str, str, int]]:
    return [(source, key, n) for source, by_key in counts.items() for key, n in sorted(by_key.items())]
