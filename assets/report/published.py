"""Published zero-shot results (published.yaml), set beside the measured ones: side by side as comparable
only when the suite declares it reproduces that paper's datasets, and always marked as reported."""

from __future__ import annotations

import os
from collections.abc import Mapping

import yaml

PUBLISHED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "published.yaml")
# The order in which UniMed-CLIP's table lists the modalities; "average" is over all datasets.
COLUMNS = ("xray", "fundus", "ct", "mri", "ultrasound", "pathology", "average")


def load_published(path: str = PUBLISHED) -> dict[str, dict]:
    """{benchmark id: entry} of the published results file; every number is checked to be a percentage."""
    with open(path) as f:
        benchmarks = (yaml.safe_load(f) or {}).get("benchmarks") or {}
    for key, entry in benchmarks.items():
        missing = {"title", "citation", "metric", "models"} - set(entry)
        if missing:
            raise ValueError(f"published benchmark {key!r} lacks {sorted(missing)}")
        for model, values in entry["models"].items():
            bad = {k: v for k, v in values.items() if k not in COLUMNS or not 0 <= float(v) <= 100}
            if bad:
                raise ValueError(f"published {key!r} / {model!r}: unknown column or not a percentage: {bad}")
    return benchmarks


def published_comparison(summary: Mapping[str, dict], paper_benchmark: str | None,
                         published: Mapping[str, dict] | None = None) -> list[dict]:
    """One table per published benchmark: rows per modality (and the average) holding the reported
    numbers and, when `paper_benchmark` names that benchmark, the measured mean top-1 of each model (in
    percent). `comparable` says which; `reason` says why not."""
    published = load_published() if published is None else published
    if paper_benchmark and paper_benchmark not in published:
        raise ValueError(f"suite paper_benchmark {paper_benchmark!r} is not in published.yaml: {sorted(published)}")
    tables = []
    for key, entry in published.items():
        comparable = key == paper_benchmark
        rows = []
        for column in COLUMNS:
            reported = {model: values.get(column) for model, values in entry["models"].items()}
            measured = {}
            if comparable:
                for model, s in summary.items():
                    value = s.get("mean_top1") if column == "average" else \
                        (s.get("by_modality", {}).get(column) or {}).get("top1")
                    measured[model] = None if value is None else round(100.0 * value, 2)
            rows.append({"modality": column, "reported": reported, "measured": measured})
        tables.append({
            "benchmark": key, "title": entry["title"], "citation": " ".join(entry["citation"].split()),
            "note": " ".join(str(entry.get("note", "")).split()), "metric": entry["metric"],
            "comparable": comparable, "rows": rows,
            "reason": None if comparable else
            "This report's suite does not declare that it reproduces these datasets (suite `paper_benchmark`), "
            "so the reported numbers are shown for reference only and are not comparable with the measured ones.",
        })
    return tables
