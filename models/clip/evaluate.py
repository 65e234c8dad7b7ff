"""Zero-shot accuracy of a CLIP model on every source of a curated pairs Parquet split."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import fsspec
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models.clip.metrics import balanced_accuracy, binary_auc, top1_accuracy
from models.clip.zeroshot import DEFAULT_TEMPLATES, ClipBundle, zero_shot_predict

log = logging.getLogger(__name__)


def read_split(curated_parquet: str, split: str = "test") -> dict[str, dict]:
    """Per source of `split`: its modality, labels and image bytes, in file order."""
    with fsspec.open(curated_parquet, "rb") as f:
        table = pq.read_table(f, columns=["source", "modality", "label", "split", "image"])
    table = table.filter(pc.equal(table.column("split"), split))
    out: dict[str, dict] = {}
    for row in table.to_pylist():
        src = out.setdefault(row["source"], {"modality": row["modality"], "labels": [], "images": []})
        src["labels"].append(row["label"])
        src["images"].append(row["image"]["bytes"])
    return out


def evaluate_zero_shot(
    bundle: ClipBundle,
    curated_parquet: str,
    *,
    split: str = "test",
    class_names: Mapping[str, Sequence[str]] | None = None,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
) -> list[dict]:
    """One row per source: samples, classes, chance, top-1, balanced accuracy (and AUC for two classes).

    `class_names[source]` fixes the candidate classes and their order; by default a source's candidates
    are the sorted labels present in the split.
    """
    rows = []
    for source, data in sorted(read_split(curated_parquet, split).items()):
        names = list((class_names or {}).get(source) or sorted(set(data["labels"])))
        index = {n: i for i, n in enumerate(names)}
        y_true = np.array([index[label] for label in data["labels"]], dtype=np.int64)
        pred, scores = zero_shot_predict(
            bundle.model, bundle.preprocess, bundle.tokenizer, data["images"], names, templates,
            modality=data["modality"], return_scores=True,
        )
        row = {
            "source": source,
            "modality": data["modality"],
            "num_samples": int(y_true.size),
            "num_classes": len(names),
            "chance": 1.0 / len(names),
            "top1": top1_accuracy(y_true, pred),
            "balanced_accuracy": balanced_accuracy(y_true, pred),
        }
        if len(names) == 2 and len(set(y_true.tolist())) == 2:
            row["auc"] = binary_auc(y_true, scores[:, 1] - scores[:, 0])
        rows.append(row)
        log.info("zero-shot %s: top1 %.3f (chance %.3f)", source, row["top1"], row["chance"])
    return rows
