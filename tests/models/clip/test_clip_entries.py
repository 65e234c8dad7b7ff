"""Models to compare: configured specs parse, a model that cannot be loaded is recorded with its reason while
the others are scored, and a required one that fails raises."""

import numpy as np
import pytest
from clip_helpers import CLASSES, png

from models.clip.entries import (
    BaselineSpec,
    ModelEntry,
    clip_entry,
    configured_entry,
    evaluate_models,
)
from models.clip.evaluate import ZeroShotTask
from models.clip.model_configs import DEFAULT_MODEL


@pytest.mark.parametrize("spec, expected", [
    ("ViT-B-16:openai", BaselineSpec("ViT-B-16:openai", "ViT-B-16", "openai")),
    ("mine=medpairs-tiny:/runs/epoch_3.pt", BaselineSpec("mine", "medpairs-tiny", "/runs/epoch_3.pt")),
    ("medpairs-tiny:s3://bucket/epoch_3.pt", BaselineSpec("medpairs-tiny:s3://bucket/epoch_3.pt", "medpairs-tiny",
                                                          "s3://bucket/epoch_3.pt")),
    ("biomedclip=hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
     BaselineSpec("biomedclip", "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224", None)),
    ("hf-hub:org/repo", BaselineSpec("hf-hub:org/repo", "hf-hub:org/repo", None)),
    ("RN50", BaselineSpec("RN50", "RN50", None)),
    ("biomedclip=local-dir:/models/BiomedCLIP", BaselineSpec("biomedclip", "local-dir:/models/BiomedCLIP", None)),
    ("unimed=ViT-B-16-quickgelu:/models/unimed_clip_vit_b16.pt",
     BaselineSpec("unimed", "ViT-B-16-quickgelu", "/models/unimed_clip_vit_b16.pt")),
])
def test_baseline_specs_parse(spec, expected):
    assert BaselineSpec.parse(spec) == expected


def test_bad_spec_is_rejected():
    with pytest.raises(ValueError):
        BaselineSpec.parse("label=:x")


def _task() -> ZeroShotTask:
    rng = np.random.default_rng(0)
    labels = np.arange(8) % 2
    return ZeroShotTask("toy", "xray", list(CLASSES), [[f"an X-ray showing a {c}."] for c in CLASSES],
                        [png(int(c), rng) for c in labels], labels, [str(i) for i in range(8)])


def test_a_model_that_cannot_be_loaded_is_reported_and_the_others_scored(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entries = [
        clip_entry("untrained", "untrained", "random init", DEFAULT_MODEL),
        configured_entry("biomedclip=hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"),
        configured_entry("missing=medpairs-tiny:/no/such/checkpoint.pt"),
    ]
    evaluation = evaluate_models(entries, [_task(), _task()], required=("untrained",), n_resamples=20)
    assert evaluation.models["untrained"]["status"] == "ok" and len(evaluation.zero_shot["untrained"]) == 2
    for name in ("biomedclip", "missing"):
        assert evaluation.models[name]["status"] == "failed" and name not in evaluation.zero_shot
    assert "BiomedCLIP" in evaluation.models["biomedclip"]["error"]
    assert "/no/such/checkpoint.pt" in evaluation.models["missing"]["error"]


def test_a_required_model_failing_raises():
    def broken():
        raise FileNotFoundError("checkpoint gone")

    with pytest.raises(FileNotFoundError):
        evaluate_models([ModelEntry("trained", "trained", "x", broken)], [_task()], required=("trained",))
    failed = evaluate_models([ModelEntry("other", "configured", "x", broken)], [_task()], required=("trained",))
    assert failed.models["other"]["error"] == "FileNotFoundError: checkpoint gone"
