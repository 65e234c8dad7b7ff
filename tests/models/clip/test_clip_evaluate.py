"""Zero-shot evaluation: metrics with CIs and the confusion matrix from similarities, the prompt-ensemble
classifier of a real (untrained, tiny) open_clip model, and reading a curated split."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from models.clip.evaluate import (
    ZeroShotTask,
    classification_metrics,
    evaluate_zero_shot_task,
    read_split,
    split_fingerprint,
    task_seed,
    zero_shot_scores,
)
from models.clip.model_configs import DEFAULT_MODEL
from models.clip.zeroshot import (
    classifier_from_prompts,
    encode_images,
    encode_texts,
    load_clip,
)


@pytest.fixture(scope="module")
def bundle():
    return load_clip(DEFAULT_MODEL, None, seed=0)


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_perfect_scores_give_perfect_metrics_and_a_diagonal_confusion():
    y = np.array([0, 1, 2, 0, 1, 2])
    scored = classification_metrics(y, np.eye(3)[y], n_resamples=100)
    row = scored.row
    assert row["top1"] == row["balanced_accuracy"] == row["auc"] == 1.0
    assert row["confusion"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert row["top1_ci"] == [1.0, 1.0] and row["auc_kind"] == "one-vs-rest macro"
    assert row["chance"] == pytest.approx(1 / 3) and row["num_samples"] == 6
    assert set(scored.bootstrap) == {"top1", "balanced_accuracy", "auc"}


def test_metrics_of_noisy_scores_have_intervals_around_them():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(0, 1, (200, 2)) + 0.8 * np.eye(2)[y]
    row = classification_metrics(y, s, n_resamples=300).row
    for metric in ("top1", "balanced_accuracy", "auc"):
        lo, hi = row[f"{metric}_ci"]
        assert lo < row[metric] < hi
    assert row["auc_kind"] == "binary"
    assert sum(map(sum, row["confusion"])) == 200


def test_auc_is_none_when_one_class_is_present():
    row = classification_metrics([1, 1, 1], [[0.1, 0.9], [0.2, 0.8], [0.6, 0.4]], n_resamples=20).row
    assert row["auc"] is None and row["top1"] == pytest.approx(2 / 3)


def test_classifier_averages_normalized_prompt_embeddings_and_renormalizes(bundle):
    prompts = [["an X-ray of pneumonia.", "pneumonia seen on X-ray."], ["a normal chest X-ray."]]
    weights = classifier_from_prompts(bundle.model, bundle.tokenizer, prompts)
    assert weights.shape == (128, 2)
    for c, texts in enumerate(prompts):
        with torch.no_grad():
            emb = [bundle.model.encode_text(bundle.tokenizer([t])).float() for t in texts]
        mean = torch.stack([e[0] / e[0].norm() for e in emb]).mean(dim=0)
        assert torch.allclose(weights[:, c], mean / mean.norm(), atol=1e-5)
    assert torch.allclose(weights.norm(dim=0), torch.ones(2), atol=1e-5)
    with pytest.raises(ValueError):
        classifier_from_prompts(bundle.model, bundle.tokenizer, [["a"], []])


def test_task_scores_are_cosine_similarities_to_class_embeddings(bundle):
    images = [_png(v) for v in (0, 120, 255)]
    task = ZeroShotTask("toy", "xray", ["a", "b"], [["a scan of a."], ["a scan of b.", "b."]], images,
                        np.array([0, 1, 1]), ["s0", "s1", "s2"])
    scores = zero_shot_scores(bundle, task)
    img = encode_images(bundle.model, bundle.preprocess, images)
    text = classifier_from_prompts(bundle.model, bundle.tokenizer, task.prompts)
    assert np.allclose(scores, (img @ text).numpy(), atol=1e-5)
    assert np.all(np.abs(scores) <= 1 + 1e-5)
    scored = evaluate_zero_shot_task(bundle, task, n_resamples=50)
    assert scored.row["source"] == "toy" and scored.row["split_fingerprint"] == split_fingerprint(["s0", "s1", "s2"])
    assert scored.row["class_names"] == ["a", "b"] and scored.row["top1"] in (0.0, 1 / 3, 2 / 3, 1.0)
    assert encode_texts(bundle.model, bundle.tokenizer, ["x", "y", "z"]).shape == (3, 128)


def test_bootstrap_seed_is_per_task_and_stable():
    assert task_seed(0, "a") == task_seed(0, "a") != task_seed(0, "b")
    assert task_seed(0, "a") != task_seed(1, "a")


def test_read_split_groups_a_split_by_source(tmp_path):
    rows = [("a1", "src_a", "xray", "x", "test", ["cap a1"]), ("a2", "src_a", "xray", "y", "train", []),
            ("b1", "src_b", "ct", None, "test", ["c1", "c2"])]
    pq.write_table(pa.table({
        "sample_id": [r[0] for r in rows], "source": [r[1] for r in rows], "modality": [r[2] for r in rows],
        "label": [r[3] for r in rows], "split": [r[4] for r in rows],
        "image": [{"bytes": r[0].encode()} for r in rows], "captions": [r[5] for r in rows],
    }), tmp_path / "pairs.parquet")
    data = read_split(str(tmp_path / "pairs.parquet"), "test")
    assert set(data) == {"src_a", "src_b"}
    assert data["src_a"]["sample_ids"] == ["a1"] and data["src_a"]["images"] == [b"a1"]
    assert data["src_b"]["captions"] == [["c1", "c2"]] and data["src_b"]["labels"] == [None]
    assert data["src_b"]["kind"] is None  # the file has no kind column


def test_a_task_is_headlined_by_its_metric(bundle):
    images = [_png(v) for v in (0, 90, 180, 255)]
    task = ZeroShotTask("toy", "xray", ["a", "b"], [["a."], ["b."]], images, np.array([0, 1, 0, 1]),
                        ["s0", "s1", "s2", "s3"], headline_metric="auc")
    scored = evaluate_zero_shot_task(bundle, task, n_resamples=20)
    assert scored.row["headline_metric"] == "auc"
    assert (scored.row["headline"], scored.row["headline_ci"]) == (scored.row["auc"], scored.row["auc_ci"])
    assert scored.bootstrap["headline"] is scored.bootstrap["auc"]
