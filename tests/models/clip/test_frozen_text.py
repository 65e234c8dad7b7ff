"""A fully locked Hugging Face text tower runs each distinct caption through its transformer once
(models/clip/frozen_text.py); its outputs are the eval-mode tower's, only the projection learns, and a
tower that is not locked runs as open_clip runs it. Also: a hub id whose model ships in an installed package
(all-MiniLM-L6-v2) loads from that package, and the CPU default trains with it locked."""

import json
from pathlib import Path

import open_clip
import pytest
import torch
from clip_helpers import captions, tiny_bert, tiny_hf_clip
from open_clip.hf_model import HFTextEncoder
from open_clip.tokenizer import HFTokenizer

from models.clip import frozen_text
from models.clip.model_configs import (
    CONFIG_DIR,
    DEFAULT_MODEL,
    has_hf_text_tower,
    packaged_text_tower,
    register_model_configs,
)
from models.clip.train import TrainSettings, build_train_argv

CAPTIONS = [*captions(0)[:2], captions(1)[0]]  # three distinct token rows in tiny_bert's vocabulary


@pytest.fixture
def installed(monkeypatch):
    """frozen_text installed for one test; open_clip's own methods back afterwards."""
    for name in ("lock", "forward"):
        monkeypatch.setattr(HFTextEncoder, name, getattr(HFTextEncoder, name))
    monkeypatch.setattr(HFTextEncoder, "_medpairs_frozen_cache", False, raising=False)
    frozen_text.install()


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> str:
    return tiny_bert(tmp_path_factory.mktemp("bert"))


def _model_and_tokens(bert_dir: str):
    """A tiny CLIP with tiny_bert as its text tower (MiniLM's pooling and projection), and CAPTIONS tokenized."""
    model, _ = tiny_hf_clip(bert_dir, {"hf_proj_type": "mlp", "hf_pooler_type": "mean_pooler", "context_length": 16})
    return model, HFTokenizer(bert_dir, context_length=16)(CAPTIONS)


def _counted(model) -> list[int]:
    """Rows of every call into `model`'s text transformer."""
    calls = []
    model.text.transformer.register_forward_pre_hook(lambda _, args, kwargs: calls.append(len(kwargs["input_ids"])),
                                                     with_kwargs=True)
    return calls


def test_a_locked_tower_encodes_each_distinct_caption_once_with_the_eval_towers_outputs(installed, bert_dir):
    model, tokens = _model_and_tokens(bert_dir)
    with torch.no_grad():
        expected = model.text(tokens)  # not locked: open_clip's own forward, in eval mode
    model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    model.train()  # the trainer's mode: dropout would be on in the transformer
    calls = _counted(model)
    batch = tokens[[0, 1, 0, 2, 1]]
    first = model.text(batch)
    again = model.text(tokens[[2, 0]])
    assert calls == [3]  # the three distinct captions, once
    torch.testing.assert_close(first, expected[[0, 1, 0, 2, 1]])
    torch.testing.assert_close(again, expected[[2, 0]])
    first.sum().backward()
    assert all(p.grad is None for p in model.text.transformer.parameters())
    assert all(p.grad is not None for p in model.text.proj.parameters())


def test_a_tower_that_is_not_locked_runs_every_step_as_open_clip_runs_it(installed, bert_dir):
    model, tokens = _model_and_tokens(bert_dir)
    model.train()
    calls = _counted(model)
    model.text(tokens).sum().backward()
    model.text(tokens)
    assert calls == [3, 3]
    assert model.text.transformer.encoder.layer[-1].output.dense.weight.grad is not None


def test_minilm_ships_in_a_package_and_the_cpu_configs_load_it_from_there():
    folder = packaged_text_tower("sentence-transformers/all-MiniLM-L6-v2")
    assert folder is not None and json.loads((Path(folder) / "config.json").read_text())["hidden_size"] == 384
    assert packaged_text_tower("microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract") is None
    register_model_configs()
    config = open_clip.get_model_config("medpairs-tiny-minilm")
    assert config["text_cfg"]["hf_model_name"] == folder
    assert open_clip.get_tokenizer("medpairs-tiny-minilm")(CAPTIONS[:1]).shape == (1, 32)
    assert json.loads((CONFIG_DIR / "medpairs-tiny-minilm.json").read_text())["text_cfg"]["hf_model_name"] == (
        "sentence-transformers/all-MiniLM-L6-v2")


def test_the_default_asks_open_clip_train_to_freeze_its_whole_pretrained_text_tower():
    assert DEFAULT_MODEL == TrainSettings().model and has_hf_text_tower(DEFAULT_MODEL) and TrainSettings().lock_text
    argv = build_train_argv("s-{0..1}.tar", 10, "/logs", "run", TrainSettings())
    assert argv[-2:] == ["--lock-text", "--lock-text-freeze-layer-norm"]
    assert "--lock-text" not in build_train_argv("s-{0..1}.tar", 10, "/logs", "run", TrainSettings(lock_text=False))
    assert "--lock-text" in build_train_argv("s-{0..1}.tar", 10, "/logs", "run", TrainSettings(model="ViT-B-16"))
    with pytest.raises(ValueError, match="medpairs-tiny-l2 trains its text tower from scratch: set lock_text to false"):
        build_train_argv("s-{0..1}.tar", 10, "/logs", "run", TrainSettings(model="medpairs-tiny-l2"))


def test_past_its_bound_the_cache_keeps_what_it_holds_and_computes_the_rest(installed, bert_dir, monkeypatch):
    monkeypatch.setattr(frozen_text, "MAX_CACHED", 2)
    model, tokens = _model_and_tokens(bert_dir)
    with torch.no_grad():
        expected = model.text(tokens)
    model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    calls = _counted(model)
    with torch.no_grad():
        torch.testing.assert_close(model.text(tokens), expected)
        torch.testing.assert_close(model.text(tokens[[2, 1, 0]]), expected[[2, 1, 0]])
    assert len(model.text.frozen_outputs) == 2 and calls == [3, 1]
