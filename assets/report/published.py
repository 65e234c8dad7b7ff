"""Published zero-shot results (published.yaml), set beside the measured ones: side by side as comparable, in
the paper's shape (per dataset, per modality, on average), only when the suite declares it reproduces that
paper's datasets, and always marked as reported."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import yaml

PUBLISHED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "published.yaml")
# The order in which UniMed-CLIP's table lists the modalities; "average" is over all datasets.
COLUMNS = ("xray", "fundus", "ct", "mri", "ultrasound", "pathology", "average")
MODALITIES = COLUMNS[:-1]


def load_published(path: str = PUBLISHED) -> dict[str, dict]:
    """{benchmark id: entry} of the published results file; every number is checked to be a percentage, and
    the datasets each modality column averages (optional) to be listed under a modality column."""
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
        datasets = entry.get("datasets") or {}
        if set(datasets) - set(MODALITIES):
            raise ValueError(f"published {key!r}: datasets under unknown modalities {sorted(set(datasets) - set(MODALITIES))}")
    return benchmarks


def _pct(values: Sequence[float]) -> float | None:
    return round(100.0 * sum(values) / len(values), 2) if values else None


def _measured_rows(entry: Mapping, results: Mapping[str, Sequence[Mapping]]) -> tuple[list[dict], list[str]]:
    """Per dataset, per modality (the mean over its datasets) and on average (the mean over all datasets),
    each model's measured metric in percent, over the benchmark's datasets that were measured; and the
    benchmark's datasets that were not. Without a dataset list, every measured dataset counts."""
    metric = entry["metric"]
    scores = {m: {r["source"]: r.get(metric) for r in rows} for m, rows in results.items()}
    measured = {r["source"]: r["modality"] for rows in results.values() for r in rows}
    groups = entry.get("datasets") or {m: sorted(n for n, mod in measured.items() if mod == m) for m in MODALITIES}
    rows, present_all = [], []
    for modality in MODALITIES:
        names = list(groups.get(modality) or ())
        present = [n for n in names if n in measured]
        present_all += present
        rows += [{"kind": "dataset", "dataset": n, "modality": modality, "reported": {},
                  "measured": {m: _pct([s[n]]) if s.get(n) is not None else None for m, s in scores.items()}}
                 for n in present]
        rows.append({"kind": "modality", "modality": modality, "datasets": len(present), "of": len(names),
                     "measured": {m: _pct([s[n] for n in present if s.get(n) is not None]) for m, s in scores.items()}})
    rows.append({"kind": "average", "modality": "average", "datasets": len(present_all),
                 "of": sum(len(v or ()) for v in groups.values()),
                 "measured": {m: _pct([s[n] for n in present_all if s.get(n) is not None]) for m, s in scores.items()}})
    missing = [n for m in MODALITIES for n in (groups.get(m) or ()) if n not in measured]
    return rows, missing


def published_comparison(results: Mapping[str, Sequence[Mapping]], paper_benchmark: str | None,
                         published: Mapping[str, dict] | None = None) -> list[dict]:
    """One table per published benchmark. When `paper_benchmark` names it, in the paper's shape: each of
    its datasets that was measured, each model's measured score (per-dataset result rows of `results`,
    in percent), then per modality and over all datasets the mean of those datasets' scores as the paper
    averages them, beside the reported numbers; `missing` names the paper's datasets not measured (the
    averages say over how many of the paper's datasets they are). Otherwise the reported numbers alone,
    with the `reason` they are not comparable."""
    published = load_published() if published is None else published
    if paper_benchmark and paper_benchmark not in published:
        raise ValueError(f"suite paper_benchmark {paper_benchmark!r} is not in published.yaml: {sorted(published)}")
    tables = []
    for key, entry in published.items():
        comparable = key == paper_benchmark
        datasets = entry.get("datasets") or {}
        if comparable:
            rows, missing = _measured_rows(entry, results)
        else:
            rows = [{"kind": "average" if c == "average" else "modality", "modality": c, "measured": {},
                     "datasets": None, "of": (sum(len(v) for v in datasets.values()) if c == "average"
                                              else len(datasets.get(c, ()))) if datasets else None}
                    for c in COLUMNS]
            missing = []
        for row in rows:
            row["reported"] = {} if row["kind"] == "dataset" else \
                {model: values.get(row["modality"]) for model, values in entry["models"].items()}
        tables.append({
            "benchmark": key, "title": entry["title"], "citation": " ".join(entry["citation"].split()),
            "note": " ".join(str(entry.get("note", "")).split()), "metric": entry["metric"],
            "comparable": comparable, "rows": rows, "models": list(entry["models"]), "missing": missing,
            "reason": None if comparable else
            "This report's suite does not declare that it reproduces these datasets (suite `paper_benchmark`), "
            "so the reported numbers are shown for reference only and are not comparable with the measured ones.",
        })
    return tables
