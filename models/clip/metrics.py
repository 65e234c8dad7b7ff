"""Classification metrics for zero-shot evaluation, as pure NumPy functions."""

from __future__ import annotations

import numpy as np


def _labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} != {p.shape[0]}")
    if t.size == 0:
        raise ValueError("no samples")
    return t, p


def top1_accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class equals the true class."""
    t, p = _labels(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """counts[i, j] = samples of true class i predicted as class j (classes are 0..num_classes-1)."""
    t, p = _labels(y_true, y_pred)
    n = int(num_classes if num_classes is not None else max(t.max(), p.max()) + 1)
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (t.astype(np.int64), p.astype(np.int64)), 1)
    return counts


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean over the classes present in y_true of the recall of that class (chance = 1/classes present)."""
    t, p = _labels(y_true, y_pred)
    classes = np.unique(t)
    return float(np.mean([np.mean(p[t == c] == c) for c in classes]))


def binary_auc(y_true, scores) -> float:
    """ROC AUC for labels in {0, 1}: the probability that a positive outranks a negative (ties count half)."""
    t = np.asarray(y_true).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if t.shape != s.shape:
        raise ValueError("y_true and scores differ in length")
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes")
    # average ranks handle ties; Mann-Whitney U from the positives' rank sum
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty_like(s)
    sorted_s = s[order]
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(avg, counts)
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
