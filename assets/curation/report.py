"""Markdown previews of the curation stats for asset metadata (no dagster import)."""

from __future__ import annotations

from collections import defaultdict

from assets.shared.metadata import md_table


def summary_by_reason(stats: dict) -> str:
    """Samples in, kept and dropped per (source, modality), with a column per drop reason."""
    reasons = sorted(stats["dropped_by_reason"])
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in stats["summary"]:
        cells[(r["source"], r["modality"])][r["outcome"]] += r["n"]
    rows = [(s, m, sum(c.values()), c["kept"], *(c[x] for x in reasons)) for (s, m), c in sorted(cells.items())]
    return md_table(rows, ("source", "modality", "in", "kept", *reasons))


def decontamination(stats: dict) -> str:
    """Training samples removed per evaluation set (a source's test split)."""
    rows = [(s, c.get("evaluation_duplicate", 0), c.get("evaluation_near_duplicate", 0), c.get("evaluation_patient", 0))
            for s, c in sorted(stats["decontamination"].items())]
    return md_table(rows, ("evaluation set", "exact copies removed", "near copies removed",
                           "other images of test patients removed")) if rows else "none"


def largest_clusters(stats: dict) -> str:
    rows = [(c["cluster_id"], c["size"], c["kept"], c["sources"], c["splits"], c["max_distance"])
            for c in stats["largest_clusters"]]
    return md_table(rows, ("cluster", "samples", "kept", "sources", "splits", "max bits to kept")) if rows else "none"


def example_pairs(stats: dict) -> str:
    rows = [(p["hamming_distance"], p["reason"], f"{p['source']}: {p['orig_path']}",
             f"{p['duplicate_of_source']}: {p['duplicate_of_path']}") for p in stats["example_pairs"]]
    return md_table(rows, ("bits", "reason", "dropped", "duplicate of")) if rows else "none"
