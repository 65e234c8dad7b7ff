"""The benchmark run: every model of the report scored on the same tasks of the evaluation suite, then
summarized (means and 95% CIs), checked, set beside published results, and written out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assets.report.aggregate import (
    quality_checks,
    summarize_classification,
    summarize_retrieval,
)
from assets.report.composition import data_composition
from assets.report.published import published_comparison
from assets.report.report import write_report
from assets.report.suite import Suite, Tasks, build_tasks
from assets.sources.catalog import SourceSpec
from models.clip.entries import Evaluation, ModelEntry, evaluate_models

# Models whose failure fails the report; any other model that fails is reported with its reason.
REQUIRED_KINDS = ("trained", "untrained")


def _task_rows(tasks: Tasks) -> list[dict]:
    rows = [{"task": "zero_shot", "source": t.source, "modality": t.modality, "num_samples": len(t.images),
             "class_names": t.class_names, "prompts": t.prompts, "split_fingerprint": t.fingerprint,
             "skipped_samples": t.skipped, "headline_metric": t.headline_metric} for t in tasks.zero_shot]
    rows += [{"task": "retrieval", "source": t.source, "modality": t.modality, "num_samples": len(t.images),
              "num_texts": sum(len(c) for c in t.captions), "split_fingerprint": t.fingerprint} for t in tasks.retrieval]
    return rows


def assemble_report(evaluation: Evaluation, tasks: Tasks, suite: Suite, *, provenance: Mapping, synthetic: bool,
                    composition: Mapping | None = None, published: Mapping | None = None,
                    notes: Sequence[str] = ()) -> dict:
    """The JSON-ready report (see README: report.json); `notes` are added to the tasks' notes."""
    summary = {m: summarize_classification(s) for m, s in evaluation.zero_shot.items() if s}
    notes = [*tasks.notes, *notes]
    if not tasks.zero_shot:
        notes.append(f"no zero-shot classification task in the {suite.split!r} split")
    if not tasks.retrieval:
        notes.append(f"no image-text source in the {suite.split!r} split: retrieval not measured")
    return {
        "title": "MedPairs benchmark report",
        "synthetic": synthetic,
        "provenance": dict(provenance),
        "suite": suite.to_dict(),
        "tasks": _task_rows(tasks),
        "models": evaluation.models,
        "model_order": list(evaluation.models),
        "results": {m: [s.row for s in scored] for m, scored in evaluation.zero_shot.items() if scored},
        "retrieval": {m: [s.row for s in scored] for m, scored in evaluation.retrieval.items() if scored},
        "summary": summary,
        "retrieval_summary": {m: summarize_retrieval(s) for m, s in evaluation.retrieval.items() if s},
        "checks": quality_checks(summary, evaluation.zero_shot),
        "published": published_comparison({m: [s.row for s in scored] for m, scored in evaluation.zero_shot.items()},
                                          suite.paper_benchmark, published),
        "composition": dict(composition) if composition else None,
        "loss_curves": evaluation.loss_curves,
        "notes": notes,
    }


def run_benchmark(entries: Sequence[ModelEntry], suite: Suite, sources: Sequence[SourceSpec], curated_pairs: str,
                  out_dir: str, *, curation_log: str | None = None, mixture: str | None = None,
                  provenance: Mapping | None = None,
                  n_resamples: int = 1000, seed: int = 0, screenshot: bool = True, notes: Sequence[str] = ()) -> dict:
    """Build the suite's tasks, score every model on them and write report.{json,md,html,png} under
    `out_dir` (with `notes` among the report's notes). Returns the report with its paths."""
    tasks = build_tasks(suite, sources, curated_pairs)
    evaluation = evaluate_models(entries, tasks.zero_shot, tasks.retrieval, required=REQUIRED_KINDS,
                                 n_resamples=n_resamples, seed=seed)
    report = assemble_report(
        evaluation, tasks, suite, provenance={**(provenance or {}), "bootstrap": f"{n_resamples} resamples, seed {seed}"},
        synthetic=any(s.synthetic for s in sources if s.name in {t.source for t in tasks.zero_shot + tasks.retrieval}),
        composition=data_composition(curated_pairs, curation_log, mixture), notes=notes,
    )
    return write_report(report, out_dir, screenshot=screenshot)
