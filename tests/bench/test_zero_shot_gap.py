"""The zero-shot diagnosis (bench/zero_shot_gap.py) on a real, untrained tiny CLIP: its prompt accuracy is
the report's top-1 for the same model and images, and every class's captions and training images are used."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.report.suite import build_tasks, load_suite
from assets.sources.synthetic import SYNTHETIC_SOURCES
from bench.training import valid_captions, write_pairs
from bench.zero_shot_gap import diagnose, training_images


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from models.clip.model_configs import register_model_configs
    from models.clip.zeroshot import load_clip

    tmp = tmp_path_factory.mktemp("gap")
    rows = [{"source": s.name, "label": c.name, "caption": f"{s.modality} image of {c.name} {i}.", "status": status}
            for s in SYNTHETIC_SOURCES for c in s.classes for i, status in enumerate(("valid", "valid", "rejected"))]
    pq.write_table(pa.Table.from_pylist(rows), tmp / "captions.parquet")
    write_pairs(str(tmp / "pairs.parquet"), str(tmp / "captions.parquet"), 3, 4, 64)
    register_model_configs()
    tasks = build_tasks(load_suite(), SYNTHETIC_SOURCES, str(tmp / "pairs.parquet")).zero_shot
    return tmp, tasks, load_clip("medpairs-tiny-l2", None, seed=0)


def test_the_prompt_accuracy_is_the_report_s_top1_and_each_view_is_scored(run):
    from models.clip.evaluate import evaluate_zero_shot_task

    tmp, tasks, bundle = run
    task = next(t for t in tasks if t.source == "synthetic_ct")
    captions = valid_captions(str(tmp / "captions.parquet"))
    assert [captions[(task.source, c)] for c in task.class_names] == [
        [f"ct image of {c} 0.", f"ct image of {c} 1."] for c in task.class_names]  # valid only
    images = training_images(str(tmp / "pairs.parquet"))
    assert [len(images[(task.source, c)]) for c in task.class_names] == [3] * len(task.class_names)  # train only

    row = diagnose(bundle, task, captions, images)
    assert row["prompts"] == round(evaluate_zero_shot_task(bundle, task, n_resamples=10).row["top1"], 3)
    assert 0 <= row["captions"] <= 1 and 0 <= row["image_centroids"] <= 1 and row["chance"] == 0.25
    n = len(task.class_names)
    assert len(row["caption_vs_caption_cosine"]) == n and all(abs(r[i] - 1) < 1e-3
                                                             for i, r in enumerate(row["caption_vs_caption_cosine"]))
    assert len(row["prompt_vs_caption_cosine"]) == n and all(len(r) == n for r in row["prompt_vs_caption_cosine"])
