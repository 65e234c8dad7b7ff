"""Hugging Face text towers loaded from a local folder (no hub): UniMed's GPU config built with one and
taking a training step, and open_clip_train training a config with one end to end."""

import json

import open_clip
import pytest
import torch
from clip_helpers import tiny_bert, write_shards

from models.clip.model_configs import (
    CONFIG_DIR,
    GPU_MODEL,
    register_model_configs,
    with_text_tower,
)
from models.clip.train import TrainSettings, run_training
from models.clip.zeroshot import load_clip

HF_MODEL = "medpairs-tiny-hf"


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> str:
    return tiny_bert(tmp_path_factory.mktemp("bert-tiny"))


def test_gpu_config_is_unimeds_shape():
    config = json.loads((CONFIG_DIR / f"{GPU_MODEL}.json").read_text())
    vision, text = config["vision_cfg"], config["text_cfg"]
    assert (vision["image_size"], vision["patch_size"], vision["width"], vision["layers"]) == (224, 16, 768, 12)
    assert text["context_length"] == 256 and "BiomedBERT" in text["hf_model_name"]


def test_gpu_config_builds_with_a_local_text_tower_and_takes_a_training_step(bert_dir):
    register_model_configs(text_tower=bert_dir)
    torch.manual_seed(0)
    model = open_clip.create_model(GPU_MODEL, force_image_size=32, output_dict=True)
    tokenizer = open_clip.get_tokenizer(GPU_MODEL)
    assert type(model.text.transformer).__name__ == "BertModel" and model.text.config.hidden_size == 32
    assert sum(p.numel() for p in model.visual.parameters()) > 80e6  # ViT-B/16
    tokens = tokenizer(["An X-ray image showing a left lesion.", "An X-ray image showing a right lesion."])
    assert tokens.shape == (2, 256)
    out = model(torch.randn(2, 3, 32, 32), tokens)
    loss = open_clip.ClipLoss()(out["image_features"], out["text_features"], out["logit_scale"])
    loss.backward()
    assert torch.isfinite(loss)
    assert model.text.transformer.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert model.visual.conv1.weight.grad.abs().sum() > 0


def test_a_config_without_hf_text_tower_refuses_a_folder():
    config = json.loads((CONFIG_DIR / "medpairs-tiny-l2.json").read_text())
    with pytest.raises(ValueError, match="Hugging Face"):
        with_text_tower(config, "/models/bert")


def test_trainer_trains_with_a_local_text_tower(bert_dir, tmp_path):
    pattern, n = write_shards(str(tmp_path / "shards"), n=32, per_shard=16)
    settings = TrainSettings(model=HF_MODEL, text_tower=bert_dir, epochs=1, batch_size=16, warmup=1,
                             log_every_n_steps=1)
    run = run_training(pattern, n, str(tmp_path / "logs"), "hf", settings, timeout=300)
    assert run["epochs_completed"] == 1 and [s for s, _ in run["loss_curve"]] == [16, 32]
    bundle = load_clip(HF_MODEL, run["checkpoint"], text_tower=bert_dir)  # strict: every weight matches
    assert type(bundle.model.text.transformer).__name__ == "BertModel"
    assert bundle.tokenizer(["a left lesion"]).shape == (1, 64)
