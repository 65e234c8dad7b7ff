"""Means over datasets with their bootstrap intervals, per modality and overall, and the CI-gate checks."""

import numpy as np
import pytest

from assets.report.aggregate import (
    mean_with_ci,
    paired_difference,
    quality_checks,
    summarize_classification,
    summarize_retrieval,
)
from models.clip.evaluate import Scored


def _scored(source, modality, top1, k=2, dist=None):
    dist = np.full(100, top1) if dist is None else dist
    row = {"source": source, "modality": modality, "top1": top1, "balanced_accuracy": top1, "auc": None, "chance": 1 / k}
    return Scored(row, {"top1": dist, "balanced_accuracy": dist})


def test_mean_over_datasets_and_its_interval():
    a = _scored("a", "xray", 0.8, dist=np.linspace(0.7, 0.9, 101))
    b = _scored("b", "xray", 0.4, dist=np.linspace(0.3, 0.5, 101))
    mean, ci = mean_with_ci([a, b], "top1")
    assert mean == pytest.approx(0.6)
    assert ci == pytest.approx([0.505, 0.695], abs=1e-6)  # per-resample means: linspace(0.5, 0.7)
    assert mean_with_ci([a, b], "auc") == (None, None)


def test_summary_per_modality_and_overall():
    rows = [_scored("x1", "xray", 1.0), _scored("c1", "ct", 0.5, k=4), _scored("x2", "xray", 0.6)]
    s = summarize_classification(rows)
    assert s["mean_top1"] == pytest.approx(0.7) and s["num_datasets"] == 3
    assert s["mean_chance"] == pytest.approx((0.5 + 0.25 + 0.5) / 3)
    assert s["top1_over_chance"] == pytest.approx(0.7 / s["mean_chance"])
    assert s["top1_by_modality"] == pytest.approx({"ct": 0.5, "xray": 0.8})
    assert s["by_modality"]["xray"]["num_datasets"] == 2 and s["by_modality"]["ct"]["chance"] == 0.25
    assert s["mean_auc"] is None


def test_retrieval_summary_means_each_recall():
    def r(v):
        return Scored({"image_to_text_R@1": v}, {"image_to_text_R@1": np.full(10, v)})

    s = summarize_retrieval([r(0.2), r(0.4)])
    assert s["mean_image_to_text_R@1"] == pytest.approx(0.3) and s["mean_image_to_text_R@1_ci"] == pytest.approx([0.3, 0.3])
    assert summarize_retrieval([]) == {}


def test_paired_difference_uses_the_same_resamples():
    base = np.linspace(0.3, 0.5, 101)
    a = [_scored("x", "xray", 0.45, dist=base + 0.05), _scored("c", "ct", 0.5, dist=base + 0.1)]
    b = [_scored("x", "xray", 0.4, dist=base), _scored("c", "ct", 0.4, dist=base)]
    diff, ci = paired_difference(a, b)
    # unpaired CIs overlap widely, but every paired resample differs by 0.05 or 0.1: mean 0.075
    assert diff == pytest.approx(0.075) and ci == pytest.approx([0.075, 0.075])
    assert paired_difference(a, [_scored("other", "ct", 0.1)]) == (None, None)


def test_checks_compare_trained_untrained_control_and_chance():
    base = np.linspace(0.3, 0.5, 101)
    zero_shot = {"trained": [_scored("x", "xray", 0.65, dist=base + 0.25)],
                 "untrained": [_scored("x", "xray", 0.4, dist=base)],
                 "shuffled_control": [_scored("x", "xray", 0.66, dist=base + 0.26)]}
    summary = {
        "trained": {"mean_top1_ci": [0.55, 0.75], "mean_chance": 0.4},
        "shuffled_control": {"mean_balanced_accuracy_ci": [0.3, 0.5], "mean_chance": 0.4},
    }
    checks = quality_checks(summary, zero_shot)
    assert {k: c["passed"] for k, c in checks.items()} == {
        "trained_above_chance": True, "trained_beats_untrained": True, "trained_beats_shuffled_control": False,
        "shuffled_control_at_chance": True}
    assert "+0.250" in checks["trained_beats_untrained"]["detail"]
    summary["shuffled_control"]["mean_balanced_accuracy_ci"] = [0.55, 0.65]
    assert not quality_checks(summary)["shuffled_control_at_chance"]["passed"]
    assert quality_checks({"trained": {"mean_top1_ci": None, "mean_chance": 0.5}}) == {}


def test_the_headline_mean_takes_each_datasets_own_metric():
    rows = [_scored("x1", "xray", 1.0), _scored("x2", "xray", 0.6)]
    rows[0].row.update(headline_metric="top1", headline=1.0)
    rows[1].row.update(headline_metric="auc", headline=0.7)
    rows[0].bootstrap["headline"], rows[1].bootstrap["headline"] = np.full(100, 1.0), np.full(100, 0.7)
    s = summarize_classification(rows)
    assert s["mean_headline"] == pytest.approx(0.85) and s["by_modality"]["xray"]["headline"] == pytest.approx(0.85)
    assert s["mean_top1"] == pytest.approx(0.8)
