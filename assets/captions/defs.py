"""Class captions: an LLM turns every label of every source (a class, a multi-label combination,
"no finding") into several validated captions, cached per label."""

import dagster as dg
import pyarrow as pa

from assets.captions.cache import cached_synthesize
from assets.captions.resource import CaptionBackendResource
from assets.captions.targets import targets_for_labels
from assets.captions.vllm_pipes import caption_backend
from assets.ingest.parts import labels_in_data
from assets.shared import layout
from assets.shared.files import write_parquet_table
from assets.shared.metadata import md_table
from assets.shared.progress import StepProgress
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from models.captioning.http_backend import HTTPBackendError


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
        with caption_backend(caption_llm, context, pipes_subprocess_client) as build:
            rows, stats = cached_synthesize(
                targets, storage.dir(layout.CAPTION_CACHE), model_id=model_id, backend=build,
                generation=caption_llm.caption_generation(), captions_per_class=config.captions_per_class,
                max_rounds=config.max_rounds, seed=config.seed, step_progress=progress,
            )
    except (HTTPBackendError, ConnectionError, TimeoutError) as e:
        # An LLM endpoint can be briefly unavailable (the http backend also retries each request): the
        # step is tried again then, and only then (not after an interrupt or a wrong setting).
        raise dg.RetryRequested(max_retries=2, seconds_to_wait=30 * 2**context.retry_number) from e
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
