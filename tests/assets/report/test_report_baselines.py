"""Baselines: configured specs, the shuffled-caption copy of the pairs, and a model that cannot be loaded
reported with its reason while the others are scored."""

from collections import Counter

import pyarrow.parquet as pq
import pytest
from report_helpers import SOURCES

from assets.report.baselines import (
    BaselineSpec,
    ModelEntry,
    configured_entry,
    standard_entries,
    write_shuffled_pairs,
)
from assets.report.benchmark import evaluate_models
from assets.report.suite import build_tasks, load_suite
from assets.shared import layout


@pytest.mark.parametrize("spec, expected", [
    ("ViT-B-16:openai", BaselineSpec("ViT-B-16:openai", "ViT-B-16", "openai")),
    ("mine=medpairs-tiny:/runs/epoch_3.pt", BaselineSpec("mine", "medpairs-tiny", "/runs/epoch_3.pt")),
    ("medpairs-tiny:s3://bucket/epoch_3.pt", BaselineSpec("medpairs-tiny:s3://bucket/epoch_3.pt", "medpairs-tiny",
                                                          "s3://bucket/epoch_3.pt")),
    ("biomedclip=hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
     BaselineSpec("biomedclip", "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224", None)),
    ("hf-hub:org/repo", BaselineSpec("hf-hub:org/repo", "hf-hub:org/repo", None)),
    ("RN50", BaselineSpec("RN50", "RN50", None)),
])
def test_baseline_specs_parse(spec, expected):
    assert BaselineSpec.parse(spec) == expected


def test_bad_spec_and_repeated_names_are_rejected():
    with pytest.raises(ValueError):
        BaselineSpec.parse("label=:x")
    run = {"model": "medpairs-tiny", "checkpoint": "/c.pt", "settings": {}}
    assert [e.name for e in standard_entries(run, baselines=["b=RN50"])] == ["trained", "untrained", "b"]
    with pytest.raises(ValueError, match="repeat"):
        standard_entries(run, baselines=["trained=RN50"])


def test_shuffled_copy_permutes_training_captions_only(pairs_root, tmp_path):
    src = pq.read_table(pairs_root / layout.CURATED_PAIRS).to_pylist()
    stats = write_shuffled_pairs(str(pairs_root / layout.CURATED_PAIRS), str(tmp_path / "a.parquet"), seed=1,
                                 batch_rows=7)
    out = pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert stats["rows"] == len(src) == len(out)
    assert [r["sample_id"] for r in out] == [r["sample_id"] for r in src]
    assert all(a["image"] == b["image"] and a["label"] == b["label"] for a, b in zip(src, out))
    train = [(a, b) for a, b in zip(src, out) if a["split"] == "train"]
    assert stats["shuffled"] == len(train)
    assert Counter(map(tuple, (a["captions"] for a, _ in train))) == Counter(map(tuple, (b["captions"] for _, b in train)))
    moved = sum(a["captions"] != b["captions"] for a, b in train)
    assert moved > len(train) // 2
    # the label no longer predicts the caption: most training captions now name another class
    named = sum(b["label"] is not None and b["label"] in b["captions"][0] for _, b in train)
    assert named < len(train) * 0.6
    assert all(a["captions"] == b["captions"] for a, b in zip(src, out) if a["split"] == "test")
    write_shuffled_pairs(str(pairs_root / layout.CURATED_PAIRS), str(tmp_path / "b.parquet"), seed=1)
    assert pq.read_table(tmp_path / "b.parquet").equals(pq.read_table(tmp_path / "a.parquet"))


def test_a_model_that_cannot_be_loaded_is_reported_and_the_others_scored(pairs_root, monkeypatch):
    from models.clip.model_configs import DEFAULT_MODEL
    from models.clip.zeroshot import load_clip

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tasks = build_tasks(load_suite(), SOURCES, str(pairs_root / layout.CURATED_PAIRS))
    entries = [
        ModelEntry("untrained", "untrained", "random init", lambda: (load_clip(DEFAULT_MODEL, None), {})),
        configured_entry("biomedclip=hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"),
        configured_entry("missing=medpairs-tiny:/no/such/checkpoint.pt"),
    ]
    evaluation = evaluate_models(entries, tasks, n_resamples=20)
    assert evaluation.models["untrained"]["status"] == "ok" and len(evaluation.zero_shot["untrained"]) == 2
    for name in ("biomedclip", "missing"):
        assert evaluation.models[name]["status"] == "failed" and name not in evaluation.zero_shot
    assert "BiomedCLIP" in evaluation.models["biomedclip"]["error"]
    assert "/no/such/checkpoint.pt" in evaluation.models["missing"]["error"]


def test_the_trained_model_failing_fails_the_report(pairs_root):
    tasks = build_tasks(load_suite(), SOURCES, str(pairs_root / layout.CURATED_PAIRS))

    def broken():
        raise FileNotFoundError("checkpoint gone")

    with pytest.raises(FileNotFoundError):
        evaluate_models([ModelEntry("trained", "trained", "x", broken)], tasks)
