"""Zero-shot classification of a CLIP model on benchmark tasks: read a split of the curated pairs, score
each task's images against its classes' prompt ensembles, and compute top-1, balanced accuracy, AUC and
the confusion matrix, each with a 95% bootstrap confidence interval."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import fsspec
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models.clip import metrics

if TYPE_CHECKING:
    from models.clip.zeroshot import ClipBundle

log = logging.getLogger(__name__)

CLASSIFICATION_METRICS = ("top1", "balanced_accuracy", "auc")


def read_split(curated_parquet: str, split: str = "test") -> dict[str, dict]:
    """Per source of `split`, in file order: modality (its first sample's), kind (when the file records
    it), and per sample: ids, modalities, labels, image bytes and captions."""
    with fsspec.open(curated_parquet, "rb") as f:
        names = pq.ParquetFile(f).schema_arrow.names
        wanted = [c for c in ("sample_id", "source", "modality", "label", "split", "image", "captions", "kind")
                  if c in names]
        table = pq.read_table(f, columns=wanted)
    table = table.filter(pc.equal(table.column("split"), split))
    out: dict[str, dict] = {}
    for row in table.to_pylist():
        src = out.setdefault(row["source"], {"modality": row["modality"], "kind": row.get("kind"),
                                             "sample_ids": [], "modalities": [], "labels": [], "images": [],
                                             "captions": []})
        src["sample_ids"].append(row.get("sample_id"))
        src["modalities"].append(row["modality"])
        src["labels"].append(row["label"])
        src["images"].append(row["image"]["bytes"])
        src["captions"].append(list(row.get("captions") or []))
    return out


def split_fingerprint(sample_ids: Sequence[str]) -> str:
    """sha256 (16 hex digits) of a task's sample ids in order: equal fingerprints, identical test sets."""
    return hashlib.sha256("\n".join(map(str, sample_ids)).encode()).hexdigest()[:16]


def task_seed(seed: int, name: str) -> int:
    """The bootstrap seed of one task: every model is resampled alike on it (a paired bootstrap)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{name}".encode(), digest_size=4).digest(), "big")


@dataclass
class ZeroShotTask:
    """One benchmark dataset: its images with their true class index, and each class's prompts."""

    source: str
    modality: str
    class_names: list[str]
    prompts: list[list[str]]  # per class, the texts whose embeddings are averaged into its classifier
    images: list[bytes]
    labels: np.ndarray  # int64 index into class_names
    sample_ids: list[str] = field(default_factory=list)
    skipped: int = 0  # samples of the split whose label is not one of class_names (e.g. multi-label)
    headline_metric: str = "top1"  # the metric the task is reported by (one of CLASSIFICATION_METRICS)

    @property
    def fingerprint(self) -> str:
        return split_fingerprint(self.sample_ids)


@dataclass
class Scored:
    """A task's JSON-ready result row, and the bootstrap distribution of each metric (for the CIs of
    means over tasks)."""

    row: dict
    bootstrap: dict[str, np.ndarray]
    predictions: np.ndarray | None = None


def zero_shot_scores(bundle: ClipBundle, task: ZeroShotTask, batch_size: int = 64) -> np.ndarray:
    """Cosine similarity [N, num_classes] of every image to every class's prompt-ensemble embedding."""
    # torch is imported here, not with the module: the code location's definitions import this module
    # (for its result types), and every run, step and CLI process loads them.
    from models.clip.zeroshot import classifier_from_prompts, encode_images

    classifier = classifier_from_prompts(bundle.model, bundle.tokenizer, task.prompts)
    if not task.images:
        return np.zeros((0, len(task.class_names)), dtype=np.float32)
    return (encode_images(bundle.model, bundle.preprocess, task.images, batch_size) @ classifier).numpy()


def classification_metrics(y_true, scores, *, n_resamples: int = 1000, seed: int = 0) -> Scored:
    """Top-1, balanced accuracy and AUC (binary, or one-vs-rest macro) of similarities [N, K], with 95%
    percentile bootstrap intervals and the confusion matrix."""
    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    k = s.shape[1]
    pred = s.argmax(axis=1)
    row = {
        "num_samples": int(y.size), "num_classes": k, "chance": 1.0 / k,
        "top1": metrics.top1_accuracy(y, pred),
        "balanced_accuracy": metrics.balanced_accuracy(y, pred),
        "confusion": metrics.confusion_matrix(y, pred, k).tolist(),
    }
    boot = {
        "top1": metrics.bootstrap_distribution(metrics.top1_accuracy, [y, pred], n_resamples=n_resamples, seed=seed),
        "balanced_accuracy": metrics.bootstrap_distribution(metrics.balanced_accuracy, [y, pred],
                                                            n_resamples=n_resamples, seed=seed),
    }
    try:
        row["auc"] = metrics.zero_shot_auc(y, s)
        row["auc_kind"] = "binary" if k == 2 else "one-vs-rest macro"
        boot["auc"] = metrics.bootstrap_distribution(metrics.zero_shot_auc, [y, s], n_resamples=n_resamples, seed=seed)
    except ValueError:
        row["auc"] = None  # a single class present: AUC is undefined
    for name, dist in boot.items():
        ci = metrics.percentile_interval(dist)
        row[f"{name}_ci"] = list(ci) if ci else None
    return Scored(row, boot, pred)


def evaluate_zero_shot_task(bundle: ClipBundle, task: ZeroShotTask, *, n_resamples: int = 1000,
                            seed: int = 0) -> Scored:
    """Score one task with one model: its result row (source, modality, split fingerprint, metrics)."""
    if not task.images:
        raise ValueError(f"task {task.source!r} has no samples")
    scored = classification_metrics(task.labels, zero_shot_scores(bundle, task),
                                     n_resamples=n_resamples, seed=task_seed(seed, task.source))
    scored.row = {"source": task.source, "modality": task.modality, "class_names": list(task.class_names),
                  "split_fingerprint": task.fingerprint, "skipped_samples": task.skipped, **scored.row,
                  "headline_metric": task.headline_metric, "headline": scored.row.get(task.headline_metric),
                  "headline_ci": scored.row.get(f"{task.headline_metric}_ci")}
    if task.headline_metric in scored.bootstrap:
        scored.bootstrap["headline"] = scored.bootstrap[task.headline_metric]
    log.info("zero-shot %s: top1 %.3f (chance %.3f)", task.source, scored.row["top1"], scored.row["chance"])
    return scored
