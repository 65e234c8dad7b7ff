"""The benchmark report: zero-shot classification and retrieval of the trained CLIP against baselines on the
evaluation suite, with confidence intervals and plots (HTML, Markdown, JSON, screenshot), and its quality
checks as asset checks."""

import dataclasses
import hashlib
import json
import os
from datetime import datetime, timezone

import dagster as dg

from assets.report.aggregate import CHECKS
from assets.report.report import file_sha256, git_commit, kept_report
from assets.shared import layout
from assets.shared.files import local_folder
from assets.shared.storage import StorageResource
from assets.sources.catalog import catalog_version
from assets.sources.resource import SourceCatalogResource
from assets.training.runs import read_run_pointer

REPORT_KEY = dg.AssetKey("benchmark_report")


class ReportConfig(dg.Config):
    # The evaluation suite YAML (local path or URL): benchmark sources, split, prompt templates;
    # empty means assets/report/suite.yaml.
    suite: str = ""
    # Seed of the untrained baseline's random initialization.
    baseline_seed: int = 0
    # Other models to score on the same splits: "[label=]model_name:checkpoint_or_tag" (open_clip's
    # trainer's checkpoint, or UniMed-CLIP's .pt with its model name, e.g. ViT-B-16-quickgelu),
    # "[label=]local-dir:/folder" (open_clip's hf-hub folder, e.g. BiomedCLIP's) or "[label=]hf-hub:org/repo".
    # One that cannot be loaded is reported with its reason.
    baselines: list[str] = []
    # Local folders of the baselines' Hugging Face text towers (config.json and tokenizer, as save_pretrained
    # writes them), by baseline label: BiomedCLIP's and UniMed-CLIP's BiomedBERT, with no hub.
    text_towers: dict[str, str] = {}
    # Resamples of the 95% bootstrap confidence intervals, and their seed.
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0
    # torch device for evaluation; empty: cuda when available, else cpu.
    device: str = ""
    # Save report.png, a screenshot of report.html in headless Chromium (skipped when none is installed).
    screenshot: bool = True


def check_results(checks: dict[str, dict], selected: set[dg.AssetCheckKey]) -> list[dg.AssetCheckResult]:
    """The report's quality checks as asset check results; a check whose models are missing (no control
    trained) has no result, so the UI shows it as not run."""
    return [dg.AssetCheckResult(check_name=name, passed=bool(check["passed"]),
                                metadata={"detail": check["detail"], "asserts": CHECKS[name]})
            for name, check in checks.items() if dg.AssetCheckKey(REPORT_KEY, name) in selected]


# A multi_asset, for can_subset: a check that does not apply to this run (its models are missing) yields nothing.
def _stored(run: dict, logs_dir: str) -> dict:
    """A run pointer with its checkpoint named relative to the training folder: the same on every read,
    whichever local copy of an s3:// root the checkpoint was read from."""
    return {**run, "checkpoint": os.path.relpath(run["checkpoint"], logs_dir)}


@dg.multi_asset(
    specs=[dg.AssetSpec(REPORT_KEY, group_name="report", deps=["clip_model", "curated_pairs", "shuffled_control"],
                        kinds={"pytorch", "html"}, code_version="3", skippable=True,
                        description="Zero-shot top-1, balanced accuracy and AUC per dataset and modality, and "
                                    "image-text recall@K, of the trained CLIP and its baselines on the same test "
                                    "splits, with 95% bootstrap CIs (HTML, Markdown, JSON).")],
    check_specs=[dg.AssetCheckSpec(name, asset=REPORT_KEY, description=text) for name, text in CHECKS.items()],
    can_subset=True, name="benchmark_report",
)
def benchmark_report(context: dg.AssetExecutionContext, config: ReportConfig, storage: StorageResource,
                     catalog: SourceCatalogResource):
    from assets.report.suite import load_suite
    from models.clip.train import summarize_run

    # The checkpoints are loaded from local files: on an s3:// root, from a copy of the training folder.
    training = storage.location(layout.TRAINING)
    with local_folder(training) as logs_dir:
        report_dir = storage.dir(layout.REPORT)
        run = read_run_pointer(logs_dir, layout.TRAINING_RUN)
        control = read_run_pointer(logs_dir, layout.SHUFFLED_CONTROL_RUN, missing_ok=True)
        stored_run, stored_control = _stored(run, logs_dir), control and _stored(control, logs_dir)
        pairs = storage.path(layout.CURATED_PAIRS)
        suite, sources, pairs_sha = load_suite(config.suite), catalog.sources(), file_sha256(pairs)
        code_version = f"asset {context.assets_def.code_versions_by_key[REPORT_KEY]}, git {git_commit() or 'n/a'}"
        # Everything the report is computed from: the same digest as the last report's means the same report.
        inputs = {"pairs": pairs_sha, "curation log": file_sha256(storage.path(layout.CURATION_LOG)),
                  "run": stored_run, "checkpoint": file_sha256(run["checkpoint"]), "control": stored_control,
                  "control checkpoint": control and file_sha256(control["checkpoint"]),
                  "suite": dataclasses.asdict(suite), "catalog": catalog_version(sources),
                  "config": config.model_dump(exclude={"device"}), "code": code_version}
        digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
        provenance = {
            "dataset version": f"sha256 of curated pairs {pairs_sha[:16]}",
            "inputs": f"sha256 {digest[:16]} of the pairs, checkpoints, suite, catalog, config and code",
            "code version": code_version,
            "seed": f"training {run['settings']['seed']}, untrained init {config.baseline_seed}",
            "model": run["model"], "checkpoint": f"{training}/{stored_run['checkpoint']}",
            "shuffled control": f"{training}/{stored_control['checkpoint']}" if control else "not trained",
            "training settings": json.dumps(run["settings"], sort_keys=True),
            "report config": json.dumps(config.model_dump(), sort_keys=True),
            "run id": context.run.run_id, "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        }
        report = kept_report(report_dir, provenance["inputs"], screenshot=config.screenshot)
        kept = report is not None
        if kept:
            context.log.info("the report's inputs are those of the last report (same pairs, checkpoints, suite, "
                             "catalog, config and code): report kept, no model scored")
        else:
            # torch loads here, only when models are scored: every step process of a run imports these
            # definitions, and a kept report needs none of it.
            from assets.report.baselines import control_notes, standard_entries
            from assets.report.benchmark import run_benchmark
            from models.clip.entries import pick_device

            entries = standard_entries(
                run, baseline_seed=config.baseline_seed, device=pick_device(config.device),
                loss_curve=summarize_run(logs_dir, layout.TRAINING_RUN)["loss_curve"], control=control,
                control_loss_curve=control and summarize_run(logs_dir, layout.SHUFFLED_CONTROL_RUN)["loss_curve"],
                baselines=config.baselines, text_towers=config.text_towers)
            report = run_benchmark(entries, suite, sources, pairs, report_dir,
                                   curation_log=storage.path(layout.CURATION_LOG),
                                   mixture=storage.path(layout.SHARDS_MIXTURE), provenance=provenance,
                                   n_resamples=config.bootstrap_resamples, seed=config.bootstrap_seed,
                                   screenshot=config.screenshot, notes=control_notes(run, control))
        summary, paths = report["summary"], report["paths"]
        yield dg.MaterializeResult(asset_key=REPORT_KEY, metadata={
            **{f"mean_top1_{m}": s["mean_top1"] for m, s in summary.items()},
            **({"mean_chance": summary["trained"]["mean_chance"]} if "trained" in summary else {}),  # zero-shot only
            "failed_models": dg.MetadataValue.json({m: i["error"] for m, i in report["models"].items() if i["error"]}),
            "checks": dg.MetadataValue.json({k: c["passed"] for k, c in report["checks"].items()}),
            "report": dg.MetadataValue.md(report["markdown"]),
            # True when the last report was made from the same inputs and kept as it was.
            "unchanged": kept,
            **{f"{kind}_path": dg.MetadataValue.path(p) for kind, p in paths.items()},
        })
        yield from check_results(report["checks"], context.selected_asset_check_keys)
