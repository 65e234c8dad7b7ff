"""The benchmark report: zero-shot accuracy of the trained CLIP against an untrained baseline."""

import dagster as dg

from assets import layout
from assets.report.report import file_sha256, write_report
from assets.training.defs import RUN_NAME
from assets.training.runs import read_run_pointer
from pipelines.resources import SourceCatalogResource, StorageResource


class ReportConfig(dg.Config):
    # Seed of the untrained baseline's random initialization.
    baseline_seed: int = 0


@dg.asset(group_name="report", deps=["clip_model", "curated_pairs"], kinds={"pytorch", "markdown"}, code_version="1")
def benchmark_report(context: dg.AssetExecutionContext, config: ReportConfig, storage: StorageResource,
                     catalog: SourceCatalogResource) -> dg.MaterializeResult:
    """Zero-shot top-1 and balanced accuracy per test split and modality, trained model against an
    untrained one of the same config (Markdown and JSON)."""
    # torch loads here, not at import: every step process of a run imports these definitions.
    from models.clip.evaluate import evaluate_zero_shot
    from models.clip.zeroshot import load_clip

    run = read_run_pointer(storage.path(layout.TRAINING), RUN_NAME)
    pairs = storage.path(layout.CURATED_PAIRS)
    sources = catalog.sources()
    # The catalog's classes are each source's candidates; a source listing none offers its test labels.
    class_names = {s.name: s.class_names() for s in sources if s.classes}
    models = {
        "trained": load_clip(run["model"], run["checkpoint"]),
        "untrained": load_clip(run["model"], None, seed=config.baseline_seed),
    }
    results = {name: evaluate_zero_shot(bundle, pairs, class_names=class_names) for name, bundle in models.items()}
    provenance = {
        "model": run["model"],
        "checkpoint": run["checkpoint"],
        "training settings": run["settings"],
        "dataset version (sha256 of curated pairs)": file_sha256(pairs)[:16],
        "code version": context.assets_def.code_versions_by_key[context.asset_key],
        "run id": context.run.run_id,
    }
    report = write_report(results, storage.dir(layout.REPORT), provenance=provenance,
                          synthetic=any(s.synthetic for s in sources))
    summary = report["summary"]
    return dg.MaterializeResult(
        metadata={
            "mean_top1_trained": summary["trained"]["mean_top1"],
            "mean_top1_untrained": summary["untrained"]["mean_top1"],
            "mean_chance": summary["trained"]["mean_chance"],
            "report": dg.MetadataValue.md(report["markdown"]),
            "markdown_path": dg.MetadataValue.path(report["paths"]["markdown"]),
            "json_path": dg.MetadataValue.path(report["paths"]["json"]),
        }
    )
