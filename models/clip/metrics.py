"""Zero-shot classification and retrieval metrics, with bootstrap confidence intervals, as pure NumPy
functions. Each is tested against a brute-force reference on small random inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

NO_HIT = np.iinfo(np.int64).max  # the rank of a retrieval query with nothing relevant
# open_clip's zero-shot evaluation scales cosine similarities by 100 before the softmax.
LOGIT_SCALE = 100.0


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


def softmax(scores, scale: float = LOGIT_SCALE) -> np.ndarray:
    """Row-wise softmax of `scale * scores` (class probabilities from cosine similarities)."""
    z = scale * np.asarray(scores, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def zero_shot_auc(y_true, scores) -> float:
    """AUC of zero-shot similarities [N, K]: for two classes the binary AUC of s1 - s0 (as UniMed-CLIP
    scores it); for more, the one-vs-rest macro AUC of softmax(100 * scores), averaged over the classes
    that have both positives and negatives. Raises ValueError when no class has both."""
    t = np.asarray(y_true).ravel()
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != t.shape[0]:
        raise ValueError(f"scores must be [N, K] with N = {t.shape[0]}, got {s.shape}")
    if s.shape[1] == 2:
        return binary_auc(t == 1, s[:, 1] - s[:, 0])
    probs = softmax(s)
    aucs = [binary_auc(t == c, probs[:, c]) for c in range(s.shape[1]) if 0 < np.sum(t == c) < t.size]
    if not aucs:
        raise ValueError("AUC needs at least one class with both positives and negatives")
    return float(np.mean(aucs))


def retrieval_ranks(similarity, relevant) -> np.ndarray:
    """Per query (row), the 0-based rank of its best relevant item among all items (columns) by
    similarity, counting ties against the query: rank = items that are not relevant and score at least
    as high as the best relevant one. A query with nothing relevant never hits (rank NO_HIT)."""
    sim = np.asarray(similarity, dtype=np.float64)
    rel = np.asarray(relevant, dtype=bool)
    if sim.shape != rel.shape or sim.ndim != 2:
        raise ValueError(f"similarity and relevant must be the same [Q, G] shape: {sim.shape} vs {rel.shape}")
    best = np.where(rel, sim, -np.inf).max(axis=1, initial=-np.inf)
    ranks = np.sum((sim >= best[:, None]) & ~rel, axis=1)
    return np.where(rel.any(axis=1), ranks, NO_HIT)


def recall_at_k(similarity, relevant, ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """{K: fraction of queries with a relevant item among their top K} (ties counted against)."""
    ranks = retrieval_ranks(similarity, relevant)
    if ranks.size == 0:
        raise ValueError("no queries")
    return {int(k): float(np.mean(ranks < k)) for k in ks}


# -- bootstrap confidence intervals ------------------------------------------------------------------


def bootstrap_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """[n_resamples, n] sample indices drawn with replacement; the same (n, n_resamples, seed) gives the
    same draws, so models scored on one dataset are resampled alike (a paired bootstrap)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def bootstrap_distribution(statistic: Callable[..., float], arrays: Sequence, *, n_resamples: int = 1000,
                           seed: int = 0) -> np.ndarray:
    """`statistic(*arrays)` on `n_resamples` resamples of the samples (axis 0 of every array, resampled
    together). A resample on which the statistic is undefined (ValueError, e.g. an AUC missing a class)
    gives NaN."""
    arrays = [np.asarray(a) for a in arrays]
    n = arrays[0].shape[0]
    if n == 0 or any(a.shape[0] != n for a in arrays):
        raise ValueError("arrays must be non-empty and share their first dimension")
    out = np.full(n_resamples, np.nan)
    for b, idx in enumerate(bootstrap_indices(n, n_resamples, seed)):
        try:
            out[b] = statistic(*(a[idx] for a in arrays))
        except ValueError:
            pass
    return out


def mean_bootstrap_distribution(values, *, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the mean of `values` (vectorized; per-query hits of recall@K, say)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("no values")
    return v[bootstrap_indices(v.size, n_resamples, seed)].mean(axis=1)


def clustered_mean_bootstrap_distribution(values, clusters, n_clusters: int, *, n_resamples: int = 1000,
                                         seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the mean of `values` when whole clusters are resampled: value j belongs to
    cluster clusters[j] (of 0..n_clusters-1), a resample draws n_clusters clusters with replacement and
    takes the mean over all their values. Retrieval resamples images, each with all of its captions, so a
    caption-rich image counts once as a unit, as in the papers' test sets; the draws are bootstrap_indices',
    the same for every model (paired)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    clusters = np.asarray(clusters).ravel()
    if v.size == 0 or n_clusters == 0:
        raise ValueError("no values")
    sums = np.bincount(clusters, weights=v, minlength=n_clusters)
    counts = np.bincount(clusters, minlength=n_clusters).astype(np.float64)
    idx = bootstrap_indices(n_clusters, n_resamples, seed)
    total = counts[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, sums[idx].sum(axis=1) / total, np.nan)


def percentile_interval(distribution, level: float = 0.95) -> tuple[float, float] | None:
    """The central `level` percentile interval of a bootstrap distribution, NaNs ignored; None if
    fewer than half the resamples were defined."""
    d = np.asarray(distribution, dtype=np.float64)
    d = d[~np.isnan(d)]
    if d.size == 0 or d.size < np.asarray(distribution).size / 2:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(d, [tail, 100.0 - tail])
    return float(lo), float(hi)


def bootstrap_ci(statistic: Callable[..., float], arrays: Sequence, *, n_resamples: int = 1000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap confidence interval of `statistic(*arrays)`."""
    return percentile_interval(bootstrap_distribution(statistic, arrays, n_resamples=n_resamples, seed=seed), level)
