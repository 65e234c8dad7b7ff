"""The benchmark report: zero-shot results of several models on the same test splits, as Markdown
for people and the Dagster UI and JSON for machines (CI gates)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence

import fsspec
import numpy as np

from assets.metadata import md_table

SYNTHETIC_NOTE = (
    "**The data is synthetic.** These numbers come from MedPairs' embedded default dataset "
    "(generated images of six modalities with real clinical class names). They show that the "
    "pipeline works end to end; they say nothing about clinical performance."
)


def file_sha256(path: str) -> str:
    """Content fingerprint of a file (local or remote), used as the dataset version in reports."""
    digest = hashlib.sha256()
    with fsspec.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def modality_means(rows: Sequence[Mapping], metric: str = "top1") -> dict[str, float]:
    """Mean of `metric` over the sources of each modality."""
    by_modality: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        by_modality[r["modality"]].append(r[metric])
    return {m: float(np.mean(v)) for m, v in sorted(by_modality.items())}


def summarize_models(results: Mapping[str, Sequence[Mapping]]) -> dict[str, dict]:
    """Per model: mean top-1, balanced accuracy and chance over sources, top-1 per modality."""
    out = {}
    for model, rows in results.items():
        top1 = float(np.mean([r["top1"] for r in rows]))
        chance = float(np.mean([r["chance"] for r in rows]))
        out[model] = {
            "mean_top1": top1,
            "mean_balanced_accuracy": float(np.mean([r["balanced_accuracy"] for r in rows])),
            "mean_chance": chance,
            "top1_over_chance": top1 / chance if chance else float("nan"),
            "top1_by_modality": modality_means(rows),
        }
    return out


def render_markdown(report: Mapping) -> str:
    """The report as Markdown: summary, per-dataset and per-modality tables, provenance."""
    models = list(report["results"])
    summary = report["summary"]
    parts = ["# MedPairs benchmark report", ""]
    if report.get("synthetic"):
        parts += [SYNTHETIC_NOTE, ""]
    parts += [
        "## Summary (mean over datasets)", "",
        md_table([(m, summary[m]["mean_top1"], summary[m]["mean_balanced_accuracy"],
                   summary[m]["mean_chance"], f"{summary[m]['top1_over_chance']:.2f}x") for m in models],
                 ("model", "top-1", "balanced acc.", "chance", "top-1 / chance")),
        "", "## Zero-shot top-1 per dataset", "",
    ]
    per_source = {m: {r["source"]: r for r in report["results"][m]} for m in models}
    first = report["results"][models[0]]
    parts.append(md_table(
        [(r["source"], r["modality"], r["num_classes"], r["num_samples"], r["chance"],
          *(per_source[m][r["source"]]["top1"] for m in models)) for r in first],
        ("dataset", "modality", "classes", "test images", "chance", *models),
    ))
    modalities = sorted({r["modality"] for r in first})
    parts += ["", "## Zero-shot top-1 per modality", "", md_table(
        [(mod, *(summary[m]["top1_by_modality"][mod] for m in models)) for mod in modalities],
        ("modality", *models),
    )]
    parts += ["", "## Provenance", "", md_table(sorted(report["provenance"].items()), ("what", "value")), ""]
    return "\n".join(parts)


def write_report(results: Mapping[str, Sequence[Mapping]], out_dir: str, *, provenance: Mapping,
                 synthetic: bool) -> dict:
    """Write report.json and report.md under `out_dir`; return the report dict with their paths."""
    report = {
        "synthetic": synthetic,
        "results": {m: list(rows) for m, rows in results.items()},
        "summary": summarize_models(results),
        "provenance": dict(provenance),
    }
    paths = {"json": f"{out_dir}/report.json", "markdown": f"{out_dir}/report.md"}
    with fsspec.open(paths["json"], "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    markdown = render_markdown(report)
    with fsspec.open(paths["markdown"], "w") as f:
        f.write(markdown)
    return {**report, "paths": paths, "markdown": markdown}
