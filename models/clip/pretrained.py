"""Configured baselines from local files, in the layouts their authors publish, with no model hub:

- an open_clip model name with a checkpoint file (open_clip's trainer's, local or fsspec URL) or a
  pretrained tag ("openai");
- open_clip's hf-hub folder, `local-dir:/path`: `open_clip_config.json` beside `open_clip_model.safetensors`
  or `open_clip_pytorch_model.bin`, as BiomedCLIP is published
  (microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224);
- UniMed-CLIP's released `.pt` with its model name (`ViT-B-16-quickgelu`, `ViT-L-14-336-quickgelu`): its
  open_clip fork's CLIP, whose text tower is a Hugging Face BiomedBERT under `text_encoder.` (MLP projection,
  CLS pooling, context 256), saved by its trainer as {"state_dict": {"module.…"}}.

A Hugging Face text tower is built from a local folder, `text_tower` (its config.json and tokenizer, as
`save_pretrained` writes them; the CLIP checkpoint carries the weights), in place of the hub id a config
names. BiomedCLIP's and UniMed-CLIP B/16's is microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract.
"""

from __future__ import annotations

import json
from copy import deepcopy
from pathlib import Path

import torch

from models.clip.model_configs import (
    packaged_text_tower,
    register_config,
    register_model_configs,
    with_text_tower,
)
from models.clip.zeroshot import ClipBundle, load_clip, read_state_dict

LOCAL_DIR = "local-dir:"
# What open_clip's hf-hub folders hold, in the order open_clip prefers the weights.
FOLDER_CONFIG = "open_clip_config.json"
FOLDER_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin")
# UniMed-CLIP's fork builds every text tower so (src/open_clip/model.py, CLIP.__init__; context 256 in its README).
UNIMED_TEXT_CFG = {"hf_proj_type": "mlp", "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 256}
UNIMED_TEXT_PREFIX = "text_encoder."
# Older transformers saved this buffer; newer BERTs do not hold it (open_clip drops it too).
POSITION_IDS = "text.transformer.embeddings.position_ids"


def load_pretrained(model_name: str, pretrained: str | None = None, *, device: str = "cpu",
                    text_tower: str | None = None) -> ClipBundle:
    """A configured model: `local-dir:FOLDER` (an open_clip hf-hub folder), `model_name` with a checkpoint
    file (open_clip's trainer's or UniMed-CLIP's, told apart by their keys), an open_clip pretrained tag, or
    `hf-hub:org/repo` (from the hub: fails with HF_HUB_OFFLINE=1). `text_tower` is the local folder of a
    Hugging Face text tower."""
    if model_name.startswith(LOCAL_DIR):
        return load_open_clip_folder(model_name[len(LOCAL_DIR):], text_tower=text_tower, device=device)
    if pretrained and ("://" in pretrained or Path(pretrained).is_file()):
        state = read_state_dict(pretrained)
        if any(k.startswith(UNIMED_TEXT_PREFIX) for k in state):
            return load_unimed(model_name, pretrained, state, text_tower=text_tower, device=device)
        return load_clip(model_name, pretrained, device=device, text_tower=text_tower)
    import open_clip

    register_model_configs(text_tower)
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained or None,
                                                                 device=device)
    model.eval()
    return ClipBundle(model, preprocess, open_clip.get_tokenizer(model_name), model_name, pretrained)


def _text_tower_folder(text_tower: str | None, tower: str, what: str) -> str:
    """`text_tower`, checked to be a Hugging Face model folder; raises naming `tower` (what the folder should
    hold) when none is given or it has no config.json."""
    if text_tower is None:
        raise ValueError(f"{what}: its text tower is the Hugging Face model {tower}: give the local folder of it "
                         "(config.json and tokenizer, as save_pretrained writes them) as the baseline's text tower")
    if not (Path(text_tower) / "config.json").is_file():
        raise FileNotFoundError(f"text tower folder {text_tower}: no config.json (expected {tower}, "
                                "as save_pretrained writes it)")
    return text_tower


def _create(config: dict, checkpoint: str, state: dict | None, display_name: str, device: str,
            preprocess_cfg: dict | None = None) -> ClipBundle:
    """Build `config` (registered under a generated name) with the weights of `checkpoint`, read by open_clip,
    or `state` when given (a converted state dict), loaded strictly."""
    import open_clip

    name = register_config(config)
    pp = preprocess_cfg or {}
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=checkpoint if state is None else None, device=device, pretrained_text=False,
        image_mean=pp.get("mean"), image_std=pp.get("std"), image_interpolation=pp.get("interpolation"),
        image_resize_mode=pp.get("resize_mode"))
    if state is not None:
        model_keys = model.state_dict().keys()
        model.load_state_dict({k: v for k, v in state.items() if k != POSITION_IDS or k in model_keys}, strict=True)
    model.eval()
    return ClipBundle(model, preprocess, open_clip.get_tokenizer(name), display_name, checkpoint)


def load_open_clip_folder(folder: str, *, text_tower: str | None = None, device: str = "cpu") -> ClipBundle:
    """A model saved as open_clip's hf-hub folder: its config (model and preprocessing) and weights. Its
    Hugging Face text tower loads from `text_tower`, or from the package that ships it (all-MiniLM-L6-v2)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"open_clip folder {folder}: not a directory")
    if not (path / FOLDER_CONFIG).is_file():
        raise FileNotFoundError(f"open_clip folder {folder}: no {FOLDER_CONFIG} (an open_clip hf-hub folder "
                                f"holds it beside its weights, one of {', '.join(FOLDER_WEIGHTS)})")
    weights = next((path / w for w in FOLDER_WEIGHTS if (path / w).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"open_clip folder {folder}: no weights (expected one of {', '.join(FOLDER_WEIGHTS)})")
    saved = json.loads((path / FOLDER_CONFIG).read_text())
    if "model_cfg" not in saved:
        raise ValueError(f"open_clip folder {folder}: {FOLDER_CONFIG} has no model_cfg")
    config = saved["model_cfg"]
    hub_id = config.get("text_cfg", {}).get("hf_model_name")
    if hub_id is not None:
        tower = text_tower or packaged_text_tower(hub_id)
        config = with_text_tower(config, _text_tower_folder(tower, repr(hub_id), f"open_clip folder {folder}"))
    return _create(config, str(weights), None, f"{LOCAL_DIR}{folder}", device, saved.get("preprocess_cfg"))


def unimed_config(model_name: str, text_tower: str) -> dict:
    """The model config UniMed-CLIP's fork builds for `model_name`: that model's image tower with a Hugging
    Face text tower from `text_tower`."""
    import open_clip

    register_model_configs()
    base = open_clip.get_model_config(model_name)
    if base is None:
        raise ValueError(f"UniMed-CLIP checkpoint: unknown model name {model_name!r} (UniMed-CLIP releases "
                         "ViT-B-16-quickgelu and ViT-L-14-336-quickgelu)")
    return with_text_tower({**deepcopy(base), "text_cfg": {"hf_model_name": None, **UNIMED_TEXT_CFG}}, text_tower)


def load_unimed(model_name: str, checkpoint: str, state: dict[str, torch.Tensor], *,
                text_tower: str | None = None, device: str = "cpu") -> ClipBundle:
    """A UniMed-CLIP checkpoint (its fork's keys: `text_encoder.` for open_clip's `text.`) as an open_clip
    model; the image transform is its fork's (OpenAI mean and std, bicubic resize, centre crop)."""
    text_tower = _text_tower_folder(text_tower, "BiomedBERT for the released models",
                                    f"UniMed-CLIP checkpoint {checkpoint}")
    renamed = {("text." + k[len(UNIMED_TEXT_PREFIX):] if k.startswith(UNIMED_TEXT_PREFIX) else k): v
               for k, v in state.items()}
    return _create(unimed_config(model_name, text_tower), checkpoint, renamed, model_name, device)
