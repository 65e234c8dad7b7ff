"""The benchmark report: zero-shot classification and retrieval of the trained CLIP against baselines on the
evaluation suite, with confidence intervals and plots (HTML, Markdown, JSON, screenshot)."""

import json
from datetime import datetime, timezone

import dagster as dg

from assets.report.report import file_sha256, git_commit
from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from assets.training.runs import read_run_pointer

CONTROL_DIR = "shuffled_control"


class ReportConfig(dg.Config):
    # The evaluation suite YAML (local path or URL): benchmark sources, split, prompt templates;
    # empty means assets/report/suite.yaml.
    suite: str = ""
    # Seed of the untrained baseline's random initialization.
    baseline_seed: int = 0
    # Also train a control on captions shuffled against images, with the trained run's settings (as
    # long as that training again), and score it: it should fall to chance.
    shuffled_control: bool = False
    # Other open_clip models to score on the same splits: "[label=]model_name:checkpoint_or_tag" or
    # "[label=]hf-hub:org/repo". One that cannot be loaded is reported with its reason.
    baselines: list[str] = []
    # Resamples of the 95% bootstrap confidence intervals, and their seed.
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0
    # torch device for evaluation; empty: cuda when available, else cpu.
    device: str = ""
    # Save report.png, a screenshot of report.html in headless Chromium (skipped when none is installed).
    screenshot: bool = True


@dg.asset(group_name="report", deps=["clip_model", "curated_pairs"], kinds={"pytorch", "html"}, code_version="2")
def benchmark_report(context: dg.AssetExecutionContext, config: ReportConfig, storage: StorageResource,
                     catalog: SourceCatalogResource) -> dg.MaterializeResult:
    """Zero-shot top-1, balanced accuracy and AUC per dataset and modality, and image-text recall@K, of the
    trained CLIP and its baselines on the same test splits, with 95% bootstrap CIs (HTML, Markdown, JSON)."""
    # torch loads here, not at import: every step process of a run imports these definitions.
    from assets.report.baselines import control_trainer, pick_device, standard_entries
    from assets.report.benchmark import run_benchmark
    from assets.report.suite import load_suite
    from models.clip.train import summarize_run

    logs_dir, report_dir = storage.path(layout.TRAINING), storage.dir(layout.REPORT)
    run = read_run_pointer(logs_dir, layout.TRAINING_RUN)
    pairs = storage.path(layout.CURATED_PAIRS)
    control = control_trainer(pairs, run["settings"], f"{report_dir}/{CONTROL_DIR}", seed=run["settings"]["seed"]) \
        if config.shuffled_control else None
    entries = standard_entries(run, baseline_seed=config.baseline_seed, device=pick_device(config.device),
                               loss_curve=summarize_run(logs_dir, layout.TRAINING_RUN)["loss_curve"], control=control,
                               baselines=config.baselines)
    provenance = {
        "dataset version": f"sha256 of curated pairs {file_sha256(pairs)[:16]}",
        "code version": f"asset {context.assets_def.code_versions_by_key[context.asset_key]}, git {git_commit() or 'n/a'}",
        "seed": f"training {run['settings']['seed']}, untrained init {config.baseline_seed}",
        "model": run["model"], "checkpoint": run["checkpoint"],
        "training settings": json.dumps(run["settings"], sort_keys=True),
        "report config": json.dumps(config.model_dump(), sort_keys=True),
        "run id": context.run.run_id, "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    report = run_benchmark(entries, load_suite(config.suite), catalog.sources(), pairs, report_dir,
                           curation_log=storage.path(layout.CURATION_LOG), provenance=provenance,
                           n_resamples=config.bootstrap_resamples, seed=config.bootstrap_seed,
                           screenshot=config.screenshot)
    summary, paths = report["summary"], report["paths"]
    return dg.MaterializeResult(metadata={
        **{f"mean_top1_{m}": s["mean_top1"] for m, s in summary.items()},
        "mean_chance": summary["trained"]["mean_chance"],
        "failed_models": dg.MetadataValue.json({m: i["error"] for m, i in report["models"].items() if i["error"]}),
        "checks": dg.MetadataValue.json({k: c["passed"] for k, c in report["checks"].items()}),
        "report": dg.MetadataValue.md(report["markdown"]),
        **{f"{kind}_path": dg.MetadataValue.path(p) for kind, p in paths.items()},
    })
