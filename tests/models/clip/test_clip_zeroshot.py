"""Loading configured open_clip baselines: a trainer checkpoint by path, and a hub id without a hub."""

import pytest
import torch

from models.clip.model_configs import DEFAULT_MODEL
from models.clip.pretrained import load_pretrained
from models.clip.zeroshot import load_clip


def test_checkpoint_path_loads_like_load_clip(tmp_path):
    source = load_clip(DEFAULT_MODEL, None, seed=3)
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in source.model.state_dict().items()}},
               tmp_path / "epoch_1.pt")
    loaded = load_pretrained(DEFAULT_MODEL, str(tmp_path / "epoch_1.pt"))
    assert torch.equal(loaded.model.visual.conv1.weight, source.model.visual.conv1.weight)
    assert loaded.checkpoint == str(tmp_path / "epoch_1.pt") and not loaded.model.training


def test_hub_model_without_a_hub_fails_with_a_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception, match="microsoft/BiomedCLIP"):
        load_pretrained("hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224")


def test_unknown_pretrained_tag_fails():
    with pytest.raises(RuntimeError, match="not a known tag"):
        load_pretrained(DEFAULT_MODEL, "no-such-tag")
