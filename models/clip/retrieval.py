"""Image-text retrieval on an image-text test split: image-to-text and text-to-image recall@K with 95%
bootstrap confidence intervals (images resampled, each with all of its captions, in both directions)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from models.clip import metrics
from models.clip.evaluate import Scored, split_fingerprint, task_seed

if TYPE_CHECKING:
    from models.clip.zeroshot import ClipBundle

log = logging.getLogger(__name__)

KS = (1, 5, 10)


@dataclass
class RetrievalTask:
    """Images with their own captions (one or more each); every caption is a text-to-image query."""

    source: str
    modality: str
    images: list[bytes]
    captions: list[list[str]]
    sample_ids: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return split_fingerprint(self.sample_ids)


def caption_owners(captions: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """All captions flattened, and the index of the image each belongs to."""
    texts = [c for cs in captions for c in cs]
    owners = np.repeat(np.arange(len(captions)), [len(cs) for cs in captions])
    return texts, owners


def retrieval_metrics(similarity, owners, ks: Sequence[int] = KS, *, n_resamples: int = 1000,
                      seed: int = 0) -> Scored:
    """Recall@K both ways from image-text similarities [num_images, num_texts], text j belonging to image
    owners[j]. Image-to-text: an image's query hits when any of its captions is in its top K."""
    sim = np.asarray(similarity, dtype=np.float64)
    owners = np.asarray(owners)
    relevant = owners[None, :] == np.arange(sim.shape[0])[:, None]
    n_images = sim.shape[0]
    # Each direction's queries with the image each belongs to: an image query is its own image.
    directions = {"image_to_text": (metrics.retrieval_ranks(sim, relevant), np.arange(n_images)),
                  "text_to_image": (metrics.retrieval_ranks(sim.T, relevant.T), owners)}
    row: dict = {"num_images": int(n_images), "num_texts": int(sim.shape[1])}
    boot: dict[str, np.ndarray] = {}
    for direction, (ranks, query_images) in directions.items():
        for k in ks:
            name = f"{direction}_R@{k}"
            hits = (ranks < k).astype(np.float64)
            row[name] = float(hits.mean())
            boot[name] = metrics.clustered_mean_bootstrap_distribution(hits, query_images, n_images,
                                                                       n_resamples=n_resamples, seed=seed)
            ci = metrics.percentile_interval(boot[name])
            row[f"{name}_ci"] = list(ci) if ci else None
    return Scored(row, boot)


def evaluate_retrieval_task(bundle: ClipBundle, task: RetrievalTask, ks: Sequence[int] = KS, *,
                            n_resamples: int = 1000, seed: int = 0) -> Scored:
    """Encode the task's images and captions with one model and score retrieval both ways."""
    # torch, only when a model is scored
    from models.clip.zeroshot import encode_images, encode_texts

    texts, owners = caption_owners(task.captions)
    if not task.images or not texts:
        raise ValueError(f"retrieval task {task.source!r} needs images and captions")
    image_emb = encode_images(bundle.model, bundle.preprocess, task.images)
    text_emb = encode_texts(bundle.model, bundle.tokenizer, texts)
    scored = retrieval_metrics((image_emb @ text_emb.T).numpy(), owners, ks, n_resamples=n_resamples,
                               seed=task_seed(seed, task.source))
    scored.row = {"source": task.source, "modality": task.modality, "split_fingerprint": task.fingerprint,
                  **scored.row}
    log.info("retrieval %s: i2t R@1 %.3f, t2i R@1 %.3f", task.source, scored.row["image_to_text_R@1"],
             scored.row["text_to_image_R@1"])
    return scored
