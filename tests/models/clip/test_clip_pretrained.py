"""Baselines from local files in their published layouts, with no hub: a tiny CLIP with a BERT text tower saved
as open_clip's hf-hub folder (BiomedCLIP's layout, its config naming BiomedBERT's hub id) and as UniMed-CLIP's
released .pt; each loads through the report's entry path and scores exactly as the model it was saved from. A
wrong folder fails naming what is missing."""

import numpy as np
import pytest
import torch
from clip_helpers import (
    CLASSES,
    png,
    save_hf_hub_folder,
    save_unimed_checkpoint,
    tiny_bert,
    tiny_hf_clip,
)

from models.clip.entries import ModelEntry, configured_entry, evaluate_models
from models.clip.evaluate import ZeroShotTask
from models.clip.model_configs import DEFAULT_MODEL
from models.clip.pretrained import UNIMED_TEXT_CFG, load_pretrained
from models.clip.zeroshot import ClipBundle

BIOMEDBERT = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"
# BiomedCLIP's text config (its open_clip_config.json), the hub id left as published.
BIOMEDCLIP_TEXT = {"hf_proj_type": "mlp", "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 256}
# Not open_clip's defaults, so the test sees the folder's preprocessing used.
PREPROCESS = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bilinear", "resize_mode": "squash"}


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> str:
    return tiny_bert(tmp_path_factory.mktemp("biomedbert"))


def _task() -> ZeroShotTask:
    rng = np.random.default_rng(0)
    labels = np.arange(12) % 2
    return ZeroShotTask("toy", "xray", list(CLASSES), [[f"an X-ray showing a {c}.", f"a {c}."] for c in CLASSES],
                        [png(int(c), rng) for c in labels], labels, [str(i) for i in range(12)])


def _scores(entry: ModelEntry) -> dict:
    evaluation = evaluate_models([entry], [_task()], required=(entry.kind,), n_resamples=20)
    [scored] = evaluation.zero_shot[entry.name]
    return scored.row


def _same_as(bundle: ClipBundle, model, tokenizer_context: int):
    images = torch.rand(2, 3, 64, 64)
    tokens = bundle.tokenizer(["an X-ray showing a left lesion.", "a right lesion."])
    assert tokens.shape == (2, tokenizer_context)
    torch.testing.assert_close(bundle.model.encode_image(images), model.encode_image(images), rtol=0, atol=0)
    torch.testing.assert_close(bundle.model.encode_text(tokens), model.encode_text(tokens), rtol=0, atol=0)


@pytest.mark.parametrize("weights", ["open_clip_pytorch_model.bin", "open_clip_model.safetensors"])
def test_an_open_clip_hf_hub_folder_loads_with_a_local_text_tower(bert_dir, tmp_path, weights):
    model, config = tiny_hf_clip(bert_dir, BIOMEDCLIP_TEXT, seed=1)
    published = {**config, "text_cfg": {"hf_model_name": BIOMEDBERT, "hf_tokenizer_name": BIOMEDBERT,
                                        **BIOMEDCLIP_TEXT}}
    folder = save_hf_hub_folder(model, published, tmp_path / "BiomedCLIP", weights, PREPROCESS)

    bundle = load_pretrained(f"local-dir:{folder}", text_tower=bert_dir)
    _same_as(bundle, model, 256)
    normalize = bundle.preprocess.transforms[-1]
    assert list(normalize.mean) == PREPROCESS["mean"] and list(normalize.std) == PREPROCESS["std"]
    assert bundle.model_name == f"local-dir:{folder}" and not bundle.model.training

    # through the report's entry path: scores as the saved model does
    entry = configured_entry(f"biomedclip=local-dir:{folder}", text_tower=bert_dir)
    source = ModelEntry("biomedclip", "configured", "source",
                        lambda: (ClipBundle(model, bundle.preprocess, bundle.tokenizer, "source", None), {}))
    assert _scores(entry) == _scores(source)


def test_a_unimed_checkpoint_loads_with_its_model_name_and_text_encoder_folder(bert_dir, tmp_path):
    model, _ = tiny_hf_clip(bert_dir, UNIMED_TEXT_CFG, seed=2)
    checkpoint = save_unimed_checkpoint(model, tmp_path / "unimed_clip_vit_tiny.pt")
    keys = torch.load(checkpoint, weights_only=True)["state_dict"].keys()
    assert any(k.startswith("module.text_encoder.transformer.") for k in keys)
    assert "module.text_encoder.proj.2.weight" in keys and not any(k.startswith("module.text.") for k in keys)

    bundle = load_pretrained(DEFAULT_MODEL, str(checkpoint), text_tower=bert_dir)
    _same_as(bundle, model, 256)
    entry = configured_entry(f"unimed={DEFAULT_MODEL}:{checkpoint}", text_tower=bert_dir)
    source = ModelEntry("unimed", "configured", "source",
                        lambda: (ClipBundle(model, bundle.preprocess, bundle.tokenizer, "source", None), {}))
    assert _scores(entry) == _scores(source)


def test_a_wrong_folder_or_missing_text_tower_fails_naming_what_is_missing(bert_dir, tmp_path):
    model, config = tiny_hf_clip(bert_dir, BIOMEDCLIP_TEXT)
    published = {**config, "text_cfg": {"hf_model_name": BIOMEDBERT, **BIOMEDCLIP_TEXT}}
    folder = save_hf_hub_folder(model, published, tmp_path / "ok", "open_clip_pytorch_model.bin", {})
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_pretrained(f"local-dir:{tmp_path / 'absent'}", text_tower=bert_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no open_clip_config.json"):
        load_pretrained(f"local-dir:{tmp_path / 'empty'}", text_tower=bert_dir)
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only/open_clip_config.json").write_text((folder / "open_clip_config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no weights .*open_clip_pytorch_model.bin"):
        load_pretrained(f"local-dir:{tmp_path / 'config_only'}", text_tower=bert_dir)
    with pytest.raises(ValueError, match=f"Hugging Face model '{BIOMEDBERT}'"):
        load_pretrained(f"local-dir:{folder}")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_pretrained(f"local-dir:{folder}", text_tower=str(tmp_path / "empty"))
    unimed = save_unimed_checkpoint(tiny_hf_clip(bert_dir, UNIMED_TEXT_CFG)[0], tmp_path / "unimed.pt")
    with pytest.raises(ValueError, match="UniMed-CLIP checkpoint .*BiomedBERT"):
        load_pretrained(DEFAULT_MODEL, str(unimed))
    with pytest.raises(ValueError, match="unknown model name 'ViT-X'"):
        load_pretrained("ViT-X", str(unimed), text_tower=bert_dir)
