"""The benchmark report as one self-contained HTML page: tables, and inline SVG plots (per-modality bars with
confidence intervals, confusion matrices, the training loss curves, data composition). No external files,
fonts or scripts; one inline line records the page height for the screenshot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from assets.report.render import svg
from assets.report.render.markdown import (
    DATASET_HEADER,
    HEADLINE_TITLE,
    MIXTURE_HEADER,
    MODEL_HEADER,
    RETRIEVAL_HEADER,
    SIDE_BY_SIDE,
    SYNTHETIC_NOTE,
    fmt,
    headline_rows,
    mixture_rows,
    modality_rows,
    model_rows,
    ok_models,
    per_dataset_rows,
    published_missing,
    published_rows,
    retrieval_rows,
    summary_rows,
)

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#1a202c;padding:0 16px}
h1{margin-bottom:4px}h2{border-bottom:1px solid #cbd5e0;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #cbd5e0;padding:4px 8px;text-align:left}th{background:#edf2f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#fffbea;border:1px solid #d69e2e;padding:10px 14px;border-radius:6px;margin:12px 0}
.failed{color:#c53030}.pass{color:#2f855a;font-weight:600}.fail{color:#c53030;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.meta{color:#4a5568}
.reported{background:#f7fafc;font-style:italic}figure{margin:0}
"""


def table(rows: Sequence[Sequence], header: Sequence[str], cls: str = "", header_classes: Sequence[str] = ()) -> str:
    head = "".join(f'<th class="{escape(header_classes[i]) if i < len(header_classes) else ""}">{escape(str(h))}</th>'
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value) -> str:
    text = fmt(value) if isinstance(value, float) else str(value)
    numeric = isinstance(value, (int, float)) or text[:1].isdigit()
    return f'<td class="num">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"


def section(sid: str, title: str, *content: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{"".join(content)}</section>'


def _modality_plot(report: Mapping) -> str:
    models, summary = ok_models(report), report["summary"]
    modalities = sorted({mod for m in models for mod in summary[m]["by_modality"]})
    groups = [*modalities, "mean"]
    series = {m: [(summary[m]["by_modality"][g]["top1"], summary[m]["by_modality"][g]["top1_ci"]) for g in modalities]
              + [(summary[m]["mean_top1"], summary[m]["mean_top1_ci"])] for m in models}
    chance = [summary[models[0]]["by_modality"][g]["chance"] for g in modalities] + [summary[models[0]]["mean_chance"]]
    return svg.grouped_bars(groups, series, title="Zero-shot top-1 per modality (95% CI)", y_label="top-1",
                            reference=chance)


def _dataset_plot(report: Mapping, metric: str, title: str) -> str:
    models = ok_models(report)
    rows = {m: {r["source"]: r for r in report["results"][m]} for m in models}
    sources = [r["source"] for r in report["results"][models[0]]]
    series = {m: [(rows[m][s].get(metric), rows[m][s].get(f"{metric}_ci")) for s in sources] for m in models}
    reference = [rows[models[0]][s]["chance"] if metric != "auc" else 0.5 for s in sources]
    return svg.grouped_bars(sources, series, title=title, y_label=metric, reference=reference,
                            reference_label="chance")


def _confusions(report: Mapping) -> str:
    parts = []
    for i, model in enumerate(ok_models(report)):
        plots = "".join("<figure>" + svg.heatmap(r["confusion"], r["class_names"], title=f"{r['source']} · {model}")
                        + "</figure>" for r in report["results"][model])
        parts.append(f'<details class="confusion-model" {"open" if i == 0 else ""}><summary>{escape(model)} '
                     f'(rows: true class, columns: predicted)</summary><div class="plots">{plots}</div></details>')
    return "".join(parts)


def _composition(comp: Mapping) -> str:
    kept = comp["kept"]
    splits = sorted({r["split"] for r in kept})

    def stacked(key: str, rows: list = kept, name: str = "") -> str:
        cats = sorted({r[key] for r in rows})
        stacks = {sp: [sum(r["count"] for r in rows if r[key] == c and r["split"] == sp) for c in cats] for sp in splits}
        return svg.stacked_hbars(cats, stacks, title=f"Kept pairs by {name or key} and split")

    plots = [stacked("modality"), stacked("source"),
             stacked("caption_origin", comp["kept_by_caption_origin_and_split"], "caption origin")]
    reasons = comp["dropped_by_reason"]
    plots.append(svg.stacked_hbars(list(reasons), {"dropped": list(reasons.values())}, title="Dropped samples by reason")
                 if reasons else "<p>No sample was dropped in curation.</p>")
    mixture = (f"<h3>Training mixture</h3>{table(mixture_rows(comp), MIXTURE_HEADER)}"
               if comp.get("mixture") else "")
    return ('<div class="plots">' + "".join(f"<figure>{p}</figure>" for p in plots) + "</div>"
            + f"<p>{comp['kept_total']} pairs kept, {comp['dropped_total']} samples dropped.</p>" + mixture)


def _published(report: Mapping) -> str:
    out = []
    for t in report.get("published", []):
        rows, header = published_rows(t, ok_models(report))
        classes = ["", *("reported" if h.endswith("(reported)") else "" for h in header[1:])]
        out.append(f"<h3>{escape(t['title'])} <em>(reported, not measured)</em></h3>"
                   f"<p>{escape(t['reason'] or SIDE_BY_SIDE)}</p>"
                   + table(rows, header, "published", classes)
                   + (f"<p>{escape(published_missing(t))}</p>" if t.get("missing") else "")
                   + f'<p class="meta">Source: {escape(t["citation"])} {escape(t["note"])}</p>')
    return "".join(out)


_VERDICT = {True: ("pass", "pass"), False: ("fail", "FAIL"), None: ("", "n/a")}


def _checks(report: Mapping) -> str:
    rows = []
    for name, check in report["checks"].items():
        cls, word = _VERDICT[check["passed"]]
        rows.append(f'<tr><td>{escape(name)}</td><td class="{cls}">{word}</td><td>{escape(check["detail"])}</td></tr>')
    return ('<table class="checks"><thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _prompts(report: Mapping) -> str:
    items = []
    for t in report.get("tasks", []):
        if t["task"] != "zero_shot":
            continue
        lists = "".join(f"<li><b>{escape(c)}</b>: {escape(' | '.join(p))}</li>"
                        for c, p in zip(t["class_names"], t["prompts"]))
        items.append(f"<details><summary>{escape(t['source'])} ({escape(t['modality'])}, {t['num_samples']} images, "
                     f"split {escape(t['split_fingerprint'])})</summary><ul>{lists}</ul></details>")
    return "".join(items)


def render_html(report: Mapping) -> str:
    """The whole report page."""
    models = ok_models(report)
    prov = report["provenance"]
    body = [f"<h1>{escape(report.get('title', 'MedPairs benchmark report'))}</h1>",
            '<p class="meta">' + " · ".join(f"{escape(k)}: {escape(str(v))}" for k, v in prov.items()
                                            if k in ("dataset version", "code version", "seed", "generated")) + "</p>"]
    if report.get("synthetic"):
        body.append(f'<div class="banner" id="synthetic-note">{SYNTHETIC_NOTE.replace("**", "")}</div>')
    models_table = [(*row[:3], row[3].replace("`", "")) for row in model_rows(report)]
    body.append(section("models", "Models", table(models_table, MODEL_HEADER, "models")))
    if models:
        body.append(section(
            "summary", "Zero-shot summary (mean over datasets, 95% bootstrap CI)",
            table(summary_rows(report), ("model", "top-1", "balanced acc.", "AUC", "chance", "top-1 / chance"), "summary"),
            f'<div class="plots"><figure>{_modality_plot(report)}</figure></div>',
            table(modality_rows(report), ("modality", "datasets", "chance", *models), "modalities")))
        body.append(section(
            "datasets", "Zero-shot results per dataset",
            f'<div class="plots"><figure>{_dataset_plot(report, "top1", "Top-1 per dataset (95% CI)")}</figure>'
            f'<figure>{_dataset_plot(report, "auc", "AUC per dataset (95% CI; 0.5 is chance)")}</figure></div>',
            *(f"<h3>{title}</h3>" + table(per_dataset_rows(report, metric), DATASET_HEADER + tuple(models), "per-dataset")
              for metric, title in (("top1", "Top-1"), ("balanced_accuracy", "Balanced accuracy"), ("auc", "AUC"))),
            *([f"<h3>{HEADLINE_TITLE}</h3>" + table(headline, ("dataset", "metric", *models), "headline")]
              if (headline := headline_rows(report)) else [])))
    if report.get("retrieval") and any(report["retrieval"].values()):
        body.append(section("retrieval", "Image-text retrieval (recall@K, 95% bootstrap CI)",
                            table(retrieval_rows(report), RETRIEVAL_HEADER, "retrieval")))
    if report.get("checks"):
        body.append(section("checks", "Checks", _checks(report)))
    if report.get("published"):
        body.append(section("published", "Published results", _published(report)))
    if models:
        body.append(section("confusion", "Confusion matrices", _confusions(report)))
    curves = {k: [tuple(p) for p in v] for k, v in report.get("loss_curves", {}).items() if v}
    loss = svg.line_chart(curves, title="Contrastive loss during training", x_label="samples seen", y_label="loss")
    body.append(section("training", "Training loss", f"<figure>{loss}</figure>" if curves else
                        "<p>No training log was found.</p>"))
    if report.get("composition"):
        body.append(section("composition", "Data composition", _composition(report["composition"])))
    if report.get("tasks"):
        body.append(section("suite", "Evaluation suite and prompts", _prompts(report)))
    if report.get("notes"):
        body.append(section("notes", "Notes", "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in report["notes"]) + "</ul>"))
    body.append(section("provenance", "Provenance",
                        table(sorted((k, str(v)) for k, v in prov.items()), ("what", "value"), "provenance")))
    height_js = ("document.documentElement.setAttribute('data-page-height',"
                 "Math.ceil(document.documentElement.scrollHeight));")
    title = escape(report.get("title", "MedPairs benchmark report"))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>{''.join(body)}<script>{height_js}</script></body></html>")
