"""Means over benchmark datasets (overall and per modality) with 95% bootstrap intervals, and the checks a
CI gate reads: the trained model beats chance and its untrained twin, the shuffled control does not."""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from models.clip.evaluate import CLASSIFICATION_METRICS, Scored
from models.clip.metrics import percentile_interval


def mean_with_ci(scored: Sequence[Scored], metric: str) -> tuple[float | None, list[float] | None]:
    """Mean of `metric` over the datasets that define it, and the 95% interval of that mean: each
    dataset is resampled on its own and the per-resample means form the distribution."""
    have = [s for s in scored if s.row.get(metric) is not None]
    if not have:
        return None, None
    mean = float(np.mean([s.row[metric] for s in have]))
    dists = np.vstack([s.bootstrap[metric] for s in have])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample undefined on every dataset: NaN
        per_resample = np.nanmean(dists, axis=0)
    ci = percentile_interval(per_resample)
    return mean, list(ci) if ci else None


# Every metric a summary averages: each dataset's `headline` is the metric its suite reports it by.
SUMMARY_METRICS = (*CLASSIFICATION_METRICS, "headline")


def summarize_classification(scored: Sequence[Scored]) -> dict:
    """One model's zero-shot summary: mean (and CI) of every metric, and of each dataset's headline metric,
    overall and per modality, mean chance, and top-1 over chance."""
    out: dict = {"num_datasets": len(scored)}
    for metric in SUMMARY_METRICS:
        out[f"mean_{metric}"], out[f"mean_{metric}_ci"] = mean_with_ci(scored, metric)
    out["mean_chance"] = float(np.mean([s.row["chance"] for s in scored])) if scored else None
    top1, chance = out["mean_top1"], out["mean_chance"]
    out["top1_over_chance"] = top1 / chance if top1 is not None and chance else None
    by_modality: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        by_modality[s.row["modality"]].append(s)
    out["by_modality"] = {}
    for modality, group in sorted(by_modality.items()):
        entry = {"num_datasets": len(group), "chance": float(np.mean([s.row["chance"] for s in group]))}
        for metric in SUMMARY_METRICS:
            entry[metric], entry[f"{metric}_ci"] = mean_with_ci(group, metric)
        out["by_modality"][modality] = entry
    out["top1_by_modality"] = {m: e["top1"] for m, e in out["by_modality"].items()}
    return out


def summarize_retrieval(scored: Sequence[Scored]) -> dict:
    """One model's mean recall@K over retrieval datasets, both directions, with CIs."""
    if not scored:
        return {}
    names = [k for k in scored[0].bootstrap]
    out: dict = {"num_datasets": len(scored)}
    for name in names:
        out[f"mean_{name}"], out[f"mean_{name}_ci"] = mean_with_ci(scored, name)
    return out


# The checks `quality_checks` can compute, and what each asserts (the benchmark_report asset's checks).
CHECKS = {
    "trained_above_chance": "The trained model's mean zero-shot top-1 has its 95% CI above mean chance.",
    "trained_beats_untrained": "The trained model's mean top-1 beats its untrained twin's (paired 95% CI of the "
                               "difference above 0).",
    "trained_beats_shuffled_control": "The trained model's mean top-1 beats the shuffled-caption control's (paired "
                                      "95% CI of the difference above 0); only when the control was trained.",
    "shuffled_control_at_chance": "The shuffled-caption control's mean balanced accuracy has chance inside its 95% "
                                  "CI; only when the control was trained.",
}


def _check(passed: bool | None, detail: str) -> dict:
    return {"passed": passed, "detail": detail}


def _fmt(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"


def paired_difference(a: Sequence[Scored], b: Sequence[Scored], metric: str = "top1"
                      ) -> tuple[float | None, list[float] | None]:
    """Mean over shared datasets of model a's `metric` minus model b's, with its 95% interval from the
    paired bootstrap (both models are resampled alike on a dataset, see evaluate.task_seed). Datasets
    are matched by source and split fingerprint."""
    b_by_key = {(s.row["source"], s.row.get("split_fingerprint")): s for s in b}
    pairs = [(s, b_by_key[key]) for s in a if (key := (s.row["source"], s.row.get("split_fingerprint"))) in b_by_key
             and s.row.get(metric) is not None and b_by_key[key].row.get(metric) is not None]
    if not pairs:
        return None, None
    diff = float(np.mean([x.row[metric] - y.row[metric] for x, y in pairs]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_resample = np.nanmean(np.vstack([x.bootstrap[metric] - y.bootstrap[metric] for x, y in pairs]), axis=0)
    ci = percentile_interval(per_resample)
    return diff, list(ci) if ci else None


def quality_checks(summary: Mapping[str, dict], zero_shot: Mapping[str, Sequence[Scored]] | None = None
                   ) -> dict[str, dict]:
    """Pass/fail facts for CI gates, on mean top-1 over datasets: the trained model above chance and
    above its untrained twin and the shuffled control (paired bootstrap CI of the difference above 0);
    the control's balanced accuracy at chance (chance inside its CI). A check whose models are missing is
    left out."""
    checks: dict[str, dict] = {}
    trained, control = summary.get("trained"), summary.get("shuffled_control")
    if trained and trained.get("mean_top1_ci"):
        ci, chance = trained["mean_top1_ci"], trained["mean_chance"]
        checks["trained_above_chance"] = _check(ci[0] > chance, f"mean top-1 95% CI {_fmt(ci)} vs chance {chance:.3f}")
    for other in ("untrained", "shuffled_control"):
        if zero_shot and "trained" in zero_shot and other in zero_shot:
            diff, ci = paired_difference(zero_shot["trained"], zero_shot[other])
            if ci:
                checks[f"trained_beats_{other}"] = _check(
                    ci[0] > 0, f"mean top-1 difference {diff:+.3f}, paired 95% CI {_fmt(ci)}")
    if control and control.get("mean_balanced_accuracy_ci"):
        ci, chance = control["mean_balanced_accuracy_ci"], control["mean_chance"]
        checks["shuffled_control_at_chance"] = _check(
            ci[0] <= chance <= ci[1], f"control mean balanced accuracy CI {_fmt(ci)} vs chance {chance:.3f}")
    return checks
