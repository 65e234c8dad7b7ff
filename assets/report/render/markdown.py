"""The benchmark report as Markdown (the Dagster UI shows it as MetadataValue.md; report.md on disk)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assets.shared.metadata import md_table

SYNTHETIC_NOTE = (
    "**The data is synthetic.** These numbers come from MedPairs' embedded default dataset "
    "(generated images of six modalities with real clinical class names). They show that the "
    "pipeline works end to end; they say nothing about clinical performance."
)
SIDE_BY_SIDE = ("Measured top-1 (%) per dataset, and per modality and over all datasets the mean of the datasets "
                "as the paper averages them, beside the reported numbers.")
DATASET_HEADER = ("dataset", "modality", "classes", "test images", "chance")
METRIC_NAMES = {"top1": "top-1", "balanced_accuracy": "balanced accuracy", "auc": "AUC"}


def fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def fmt_ci(value, ci) -> str:
    """`0.712 [0.650, 0.770]`, or just the value when there is no interval."""
    if value is None:
        return "–"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


MIXTURE_TITLE = "Training mixture (the shards: each source's pairs weighted or capped as its catalog entry says):"
MIXTURE_HEADER = ("source", "weight", "cap", "training pairs", "exported pairs", "samples per epoch")


def mixture_rows(comp: Mapping) -> list[tuple]:
    """The composition's training mixture per source (what the shards hold), as table rows."""
    return [(name, m["weight"], m["cap"] or "", m["train_pairs"], m["exported_pairs"], m["samples"])
            for name, m in comp.get("mixture", {}).items()]


def ok_models(report: Mapping) -> list[str]:
    """The models with results, in the report's order (JSON sorts keys; `model_order` keeps it)."""
    order = report.get("model_order") or list(report["models"])
    return [m for m in order if m in report["results"]]


MODEL_HEADER = ("model", "kind", "status", "what it is")


def model_rows(report: Mapping) -> list[tuple]:
    """Every model, scored or failed (with its reason), in the report's order."""
    rows = []
    for name in report.get("model_order") or report["models"]:
        info = report["models"][name]
        status = "ok" if info["status"] == "ok" else f"failed: {info['error']}"
        rows.append((name, info["kind"], status, info["description"]))
    return rows


def scored_images(row: Mapping) -> str:
    """The images a dataset was scored on, and its split's images left out because their label is not one
    of its classes (a multi-label finding such as "mass and pleural thickening"): counted, not hidden."""
    skipped = row.get("skipped_samples") or 0
    return f"{row['num_samples']} (+{skipped} not scored: no single class)" if skipped else str(row["num_samples"])


def per_dataset_rows(report: Mapping, metric: str) -> list[tuple]:
    """(dataset, modality, classes, test images, chance, one `value [CI]` per model) for every dataset."""
    models = ok_models(report)
    if not models:
        return []
    by_model = {m: {r["source"]: r for r in report["results"][m]} for m in models}
    return [(r["source"], r["modality"], r["num_classes"], scored_images(r), fmt(r["chance"]),
             *(fmt_ci(by_model[m][r["source"]].get(metric), by_model[m][r["source"]].get(f"{metric}_ci"))
               for m in models))
            for r in report["results"][models[0]]]


def headline_rows(report: Mapping) -> list[tuple]:
    """When the suite names a headline metric per dataset (its `metrics`): (dataset, metric, one `value
    [CI]` per model) for every dataset, then their mean; otherwise no rows."""
    models = ok_models(report)
    if not models or not (report.get("suite") or {}).get("metrics"):
        return []
    by_model = {m: {r["source"]: r for r in report["results"][m]} for m in models}
    rows = [(r["source"], METRIC_NAMES[r["headline_metric"]],
             *(fmt_ci(by_model[m][r["source"]].get("headline"), by_model[m][r["source"]].get("headline_ci"))
               for m in models))
            for r in report["results"][models[0]]]
    summary = report["summary"]
    return [*rows, ("mean over datasets", "each its own",
                    *(fmt_ci(summary[m]["mean_headline"], summary[m]["mean_headline_ci"]) for m in models))]


HEADLINE_TITLE = "Zero-shot headline metric per dataset (the suite's choice, 95% bootstrap CI)"


def modality_rows(report: Mapping, metric: str = "top1") -> list[tuple]:
    models = ok_models(report)
    summary = report["summary"]
    modalities = sorted({mod for m in models for mod in summary[m]["by_modality"]})
    rows = []
    for mod in modalities:
        first = summary[models[0]]["by_modality"][mod]
        rows.append((mod, first["num_datasets"], fmt(first["chance"]),
                     *(fmt_ci(summary[m]["by_modality"][mod][metric], summary[m]["by_modality"][mod][f"{metric}_ci"])
                       for m in models)))
    return rows


def summary_rows(report: Mapping) -> list[tuple]:
    rows = []
    for m in ok_models(report):
        s = report["summary"][m]
        ratio = s.get("top1_over_chance")
        rows.append((m, fmt_ci(s["mean_top1"], s["mean_top1_ci"]),
                     fmt_ci(s["mean_balanced_accuracy"], s["mean_balanced_accuracy_ci"]),
                     fmt_ci(s["mean_auc"], s["mean_auc_ci"]), fmt(s["mean_chance"]),
                     "–" if ratio is None else f"{ratio:.2f}x"))
    return rows


def retrieval_rows(report: Mapping) -> list[tuple]:
    rows = []
    for m in ok_models(report):
        for r in report.get("retrieval", {}).get(m, []):
            rows.append((m, r["source"], r["num_images"], r["num_texts"],
                         *(fmt_ci(r[f"{d}_R@{k}"], r.get(f"{d}_R@{k}_ci"))
                           for d in ("image_to_text", "text_to_image") for k in (1, 5, 10))))
    return rows


RETRIEVAL_HEADER = ("model", "dataset", "images", "texts", "I→T R@1", "I→T R@5", "I→T R@10",
                    "T→I R@1", "T→I R@5", "T→I R@10")


def _averaged_over(row: Mapping) -> str:
    if row["kind"] == "dataset":
        return row["modality"]
    if row.get("of") is None:
        return ""
    return f"{row['of']} datasets" if row.get("datasets") is None else f"{row['datasets']} of {row['of']} datasets"


def published_rows(table: Mapping, models: Sequence[str]) -> tuple[list[tuple], tuple]:
    """A published table's rows: per dataset (comparable tables), per modality and on average, the measured
    models' numbers beside the reported ones."""
    reported = list(table["models"])
    measured = list(models) if table["comparable"] else []
    header = ("dataset / modality", "modality / averaged over", *(f"{m} (measured)" for m in measured),
              *(f"{m} (reported)" for m in reported))
    rows = [(r["dataset"] if r["kind"] == "dataset" else r["modality"], _averaged_over(r),
             *(fmt_pct(r["measured"].get(m)) for m in measured),
             *(fmt_pct(r["reported"].get(m)) for m in reported)) for r in table["rows"]]
    return rows, header


def published_missing(table: Mapping) -> str:
    """What the paper averages over that this run did not measure (so its averages leave out)."""
    if not table.get("missing"):
        return ""
    return (f"Not measured here, so left out of the measured averages ({len(table['missing'])} of the paper's "
            f"datasets): {', '.join(table['missing'])}.")


def fmt_pct(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def render_markdown(report: Mapping) -> str:
    """The report as Markdown: models, summary, per-modality and per-dataset tables, retrieval, checks,
    published results, data composition and provenance."""
    models = ok_models(report)
    parts = [f"# {report.get('title', 'MedPairs benchmark report')}", ""]
    if report.get("synthetic"):
        parts += [SYNTHETIC_NOTE, ""]
    parts += ["## Models", "", md_table(model_rows(report), MODEL_HEADER), ""]
    if models:
        parts += ["## Zero-shot summary (mean over datasets, 95% bootstrap CI)", "",
                  md_table(summary_rows(report), ("model", "top-1", "balanced acc.", "AUC", "chance", "top-1 / chance")),
                  "", "## Zero-shot top-1 per modality", "",
                  md_table(modality_rows(report), ("modality", "datasets", "chance", *models))]
        for metric in ("top1", "balanced_accuracy", "auc"):
            parts += ["", f"## Zero-shot {METRIC_NAMES[metric]} per dataset", "",
                      md_table(per_dataset_rows(report, metric),
                               (*DATASET_HEADER, *models))]
        if headline := headline_rows(report):
            parts += ["", f"## {HEADLINE_TITLE}", "", md_table(headline, ("dataset", "metric", *models))]
    if report.get("retrieval") and any(report["retrieval"].values()):
        parts += ["", "## Image-text retrieval (recall@K, 95% bootstrap CI)", "",
                  md_table(retrieval_rows(report), RETRIEVAL_HEADER)]
    if report.get("checks"):
        parts += ["", "## Checks", "", md_table(
            [(k, {True: "pass", False: "FAIL", None: "n/a"}[c["passed"]], c["detail"]) for k, c in report["checks"].items()],
            ("check", "result", "detail"))]
    for table in report.get("published", []):
        rows, header = published_rows(table, models)
        parts += ["", f"## Published results: {table['title']} (reported, not measured)", "",
                  table["reason"] or SIDE_BY_SIDE, "",
                  md_table(rows, header), "", *((published_missing(table), "") if table.get("missing") else ()),
                  f"Source: {table['citation']} {table['note']}".strip()]
    comp = report.get("composition")
    if comp:
        parts += ["", "## Data composition", "", md_table(
            [(k, v) for k, v in comp["kept_by_modality"].items()], ("modality", "kept pairs")), "",
            md_table(list(comp["kept_by_caption_origin"].items()), ("caption origin", "kept pairs")), "",
            md_table(sorted(comp["dropped_by_reason"].items()) or [("(none)", 0)], ("drop reason", "samples"))]
        if comp.get("mixture"):
            parts += ["", MIXTURE_TITLE, "", md_table(mixture_rows(comp), MIXTURE_HEADER)]
    if report.get("notes"):
        parts += ["", "## Notes", "", *(f"- {n}" for n in report["notes"])]
    parts += ["", "## Provenance", "", md_table(sorted(report["provenance"].items()), ("what", "value")), ""]
    return "\n".join(parts)
