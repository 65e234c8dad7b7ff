"""Image-text retrieval: recall@K both ways from similarities (several captions per image), and the same
through a real (untrained, tiny) open_clip model."""

import io

import numpy as np
import pytest
from PIL import Image

from models.clip.model_configs import DEFAULT_MODEL
from models.clip.retrieval import (
    RetrievalTask,
    caption_owners,
    evaluate_retrieval_task,
    retrieval_metrics,
)
from models.clip.zeroshot import load_clip


def _brute(sim, owners, k):
    n_img, n_txt = sim.shape
    i2t = np.mean([owners[np.argsort(-sim[i], kind="stable")[:k]].tolist().count(i) > 0 for i in range(n_img)])
    t2i = np.mean([j_owner in np.argsort(-sim[:, j], kind="stable")[:k] for j, j_owner in enumerate(owners)])
    return i2t, t2i


@pytest.mark.parametrize("seed", range(8))
def test_recall_both_ways_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, int(rng.integers(2, 15)))
    owners = np.repeat(np.arange(counts.size), counts)
    sim = rng.normal(size=(counts.size, owners.size)) + 1.5 * (owners[None, :] == np.arange(counts.size)[:, None])
    row = retrieval_metrics(sim, owners, ks=(1, 5, 10), n_resamples=50).row
    for k in (1, 5, 10):
        i2t, t2i = _brute(sim, owners, k)
        assert row[f"image_to_text_R@{k}"] == pytest.approx(i2t)
        assert row[f"text_to_image_R@{k}"] == pytest.approx(t2i)
        lo, hi = row[f"image_to_text_R@{k}_ci"]
        assert lo <= row[f"image_to_text_R@{k}"] <= hi
    assert row["num_images"] == counts.size and row["num_texts"] == owners.size


def test_the_bootstrap_resamples_images_with_all_their_captions():
    """Image 0 has four captions, all found; images 1 and 2 one each, both missed. A resample is a draw of
    three images: text-to-image recall is then (hits of the drawn images' captions) / (their captions)."""
    owners = np.array([0, 0, 0, 0, 1, 2])
    sim = np.zeros((3, 6))
    sim[0, :4] = 1.0  # image 0's captions find it first
    sim[1, 4], sim[0, 5] = -1.0, 1.0  # image 1's caption ranks image 1 last; image 2's ranks image 0 first
    scored = retrieval_metrics(sim, owners, ks=(1,), n_resamples=400, seed=3)
    assert scored.row["text_to_image_R@1"] == pytest.approx(4 / 6)
    draws = np.random.default_rng(3).integers(0, 3, size=(400, 3))  # metrics.bootstrap_indices' draws
    hits, counts = np.array([4.0, 0.0, 0.0]), np.array([4.0, 1.0, 1.0])
    expected = hits[draws].sum(1) / counts[draws].sum(1)
    assert np.allclose(scored.bootstrap["text_to_image_R@1"], expected)


def test_caption_owners_flatten_captions():
    texts, owners = caption_owners([["a", "b"], ["c"], ["d", "e", "f"]])
    assert texts == list("abcdef") and owners.tolist() == [0, 0, 1, 2, 2, 2]


def test_retrieval_through_a_real_model():
    bundle = load_clip(DEFAULT_MODEL, None, seed=0)
    rng = np.random.default_rng(0)
    images = []
    for _ in range(6):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
        images.append(buf.getvalue())
    captions = [[f"report {i}", f"finding {i}"] for i in range(6)]
    task = RetrievalTask("toy", "xray", images, captions, [f"s{i}" for i in range(6)])
    row = evaluate_retrieval_task(bundle, task, n_resamples=50).row
    assert row["num_images"] == 6 and row["num_texts"] == 12 and row["source"] == "toy"
    for direction in ("image_to_text", "text_to_image"):
        r = [row[f"{direction}_R@{k}"] for k in (1, 5, 10)]
        assert 0 <= r[0] <= r[1] <= r[2] <= 1.0
    assert row["text_to_image_R@10"] == 1.0  # 6 images: every text's image is within its top 10
    # (not so image to text: an image's two captions may both rank 11th and 12th of the 12)
    with pytest.raises(ValueError):
        evaluate_retrieval_task(bundle, RetrievalTask("empty", "xray", [], []))
