"""Classification metrics against brute-force references on random inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.clip.metrics import balanced_accuracy, binary_auc, confusion_matrix, top1_accuracy


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
