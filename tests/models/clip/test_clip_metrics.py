"""Classification, retrieval and bootstrap metrics against brute-force references on random inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.clip.metrics import (
    balanced_accuracy,
    binary_auc,
    bootstrap_ci,
    bootstrap_distribution,
    bootstrap_indices,
    confusion_matrix,
    mean_bootstrap_distribution,
    percentile_interval,
    recall_at_k,
    softmax,
    top1_accuracy,
    zero_shot_auc,
)


def _brute_top1(t, p):
    return sum(1 for a, b in zip(t, p) if a == b) / len(t)


def _brute_balanced(t, p):
    recalls = []
    for c in sorted(set(t)):
        idx = [i for i, a in enumerate(t) if a == c]
        recalls.append(sum(1 for i in idx if p[i] == c) / len(idx))
    return sum(recalls) / len(recalls)


def _brute_auc(t, s):
    pos = [x for x, y in zip(s, t) if y == 1]
    neg = [x for x, y in zip(s, t) if y == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(20))
def test_accuracies_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    n = int(rng.integers(1, 60))
    t = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.5, t, rng.integers(0, k, n))
    assert top1_accuracy(t, p) == pytest.approx(_brute_top1(t.tolist(), p.tolist()))
    assert balanced_accuracy(t, p) == pytest.approx(_brute_balanced(t.tolist(), p.tolist()))
    cm = confusion_matrix(t, p, k)
    assert cm.sum() == n
    for i, j in itertools.product(range(k), range(k)):
        assert cm[i, j] == sum(1 for a, b in zip(t, p) if a == i and b == j)


@pytest.mark.parametrize("seed", range(20))
def test_auc_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 50))
    t = rng.integers(0, 2, n)
    t[0], t[1] = 0, 1
    s = rng.integers(0, 5, n).astype(float) + t * rng.random()  # coarse scores: many ties
    assert binary_auc(t, s) == pytest.approx(_brute_auc(t.tolist(), s.tolist()))


def test_balanced_accuracy_is_chance_for_a_constant_predictor_on_imbalanced_data():
    t = np.array([0] * 90 + [1] * 10)
    p = np.zeros(100, dtype=int)
    assert top1_accuracy(t, p) == pytest.approx(0.9)
    assert balanced_accuracy(t, p) == pytest.approx(0.5)


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError):
        top1_accuracy([0, 1], [0])
    with pytest.raises(ValueError):
        balanced_accuracy([], [])
    with pytest.raises(ValueError):
        binary_auc([1, 1], [0.2, 0.3])


# -- AUC of zero-shot similarities -------------------------------------------------------------------


def _brute_softmax(row, scale=100.0):
    m = max(row)
    e = [np.exp(scale * (v - m)) for v in row]
    return [v / sum(e) for v in e]


@pytest.mark.parametrize("seed", range(10))
def test_zero_shot_auc_is_binary_margin_auc_or_ovr_macro(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    n = int(rng.integers(k + 2, 40))
    t = rng.integers(0, k, n)
    t[:k] = np.arange(k)  # every class present
    s = rng.normal(0, 0.05, (n, k)) + 0.03 * np.eye(k)[t]
    if k == 2:
        expected = _brute_auc((t == 1).tolist(), (s[:, 1] - s[:, 0]).tolist())
    else:
        probs = [_brute_softmax(row) for row in s.tolist()]
        expected = np.mean([_brute_auc((t == c).astype(int).tolist(), [p[c] for p in probs]) for c in range(k)])
    assert zero_shot_auc(t, s) == pytest.approx(expected)


def test_zero_shot_auc_agrees_with_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    t = rng.integers(0, 4, 200)
    s = rng.normal(0, 0.05, (200, 4)) + 0.02 * np.eye(4)[t]
    assert zero_shot_auc(t, s) == pytest.approx(
        sklearn_metrics.roc_auc_score(t, softmax(s), multi_class="ovr", average="macro"))


def test_zero_shot_auc_skips_absent_classes_and_needs_one_defined():
    s = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.8, 0.2, 0.0]])
    assert zero_shot_auc([0, 1, 0], s) == pytest.approx(1.0)  # class 2 absent: averaged over 0 and 1
    with pytest.raises(ValueError):
        zero_shot_auc([0, 0, 0], s)


# -- retrieval ---------------------------------------------------------------------------------------


def _brute_recall(sim, rel, k):
    """Sort each query's items by score, ties placing non-relevant items first (counted against)."""
    hits = 0
    for q in range(len(sim)):
        order = sorted(range(len(sim[q])), key=lambda j: (-sim[q][j], rel[q][j]))
        hits += any(rel[q][j] for j in order[:k])
    return hits / len(sim)


@pytest.mark.parametrize("seed", range(15))
def test_recall_at_k_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    q, g = int(rng.integers(1, 12)), int(rng.integers(1, 15))
    sim = rng.integers(0, 4, (q, g)).astype(float)  # coarse: many ties
    rel = rng.random((q, g)) < 0.2
    got = recall_at_k(sim, rel, ks=(1, 3, 5, 10))
    for k in (1, 3, 5, 10):
        assert got[k] == pytest.approx(_brute_recall(sim.tolist(), rel.tolist(), k))


def test_recall_counts_ties_against_so_a_constant_model_is_not_perfect():
    sim = np.zeros((4, 4))
    assert recall_at_k(sim, np.eye(4, dtype=bool), ks=(1, 3, 4)) == {1: 0.0, 3: 0.0, 4: 1.0}
    assert recall_at_k(np.eye(4), np.eye(4, dtype=bool), ks=(1,)) == {1: 1.0}


# -- bootstrap ---------------------------------------------------------------------------------------


def test_bootstrap_ci_contains_the_estimate_and_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 500, 5000):
        t = rng.integers(0, 3, n)
        p = np.where(rng.random(n) < 0.6, t, rng.integers(0, 3, n))
        lo, hi = bootstrap_ci(top1_accuracy, [t, p], n_resamples=400, seed=1)
        assert lo <= top1_accuracy(t, p) <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    # ~ 2 * 1.96 * sqrt(p (1 - p) / n) for a proportion
    assert widths[2] == pytest.approx(2 * 1.96 * np.sqrt(0.73 * 0.27 / 5000), rel=0.25)


def test_bootstrap_is_seeded_and_paired_across_models():
    t = np.arange(30) % 3
    a, b = bootstrap_distribution(top1_accuracy, [t, t], seed=5), bootstrap_distribution(top1_accuracy, [t, t], seed=5)
    assert np.array_equal(a, b)
    assert np.array_equal(bootstrap_indices(30, 10, 7), bootstrap_indices(30, 10, 7))
    hits = (np.arange(40) % 4 == 0).astype(float)
    dist = mean_bootstrap_distribution(hits, n_resamples=10, seed=2)
    assert np.allclose(dist, hits[bootstrap_indices(40, 10, 2)].mean(axis=1))


def test_undefined_resamples_are_nan_and_too_many_give_no_interval():
    t = np.array([0] * 19 + [1])  # one positive: about a third of the resamples lack it
    dist = bootstrap_distribution(binary_auc, [t, np.linspace(0, 1, 20)], n_resamples=200)
    assert 30 < np.isnan(dist).sum() < 120
    assert percentile_interval(dist) is not None
    assert percentile_interval([0.1, np.nan, np.nan, 0.3, np.nan]) is None
