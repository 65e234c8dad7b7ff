"""Tiny learnable shards with several captions per sample, a tiny random BERT saved as a local folder, and a
tiny CLIP with that BERT saved in the layouts baselines are published in (open_clip's hf-hub folder,
UniMed-CLIP's .pt), for the training and loading tests."""

from __future__ import annotations

import io
import string
from pathlib import Path

import numpy as np
from PIL import Image

from assets.export.webdataset import ShardWriter, shard_pattern

CLASSES = ("left lesion", "right lesion")
CAPTIONS_PER_SAMPLE = 3


def png(class_index: int, rng: np.random.Generator, size: int = 64) -> bytes:
    img = rng.integers(0, 60, (size, size), dtype=np.uint8)
    x0 = size // 8 if class_index == 0 else 5 * size // 8
    img[3 * size // 8 : 5 * size // 8, x0 : x0 + size // 4] = 230
    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def captions(class_index: int) -> list[str]:
    return [f"An X-ray image showing a {CLASSES[class_index]}, variant {k}." for k in range(CAPTIONS_PER_SAMPLE)]


def write_shards(out_dir: str, n: int = 64, per_shard: int = 16) -> tuple[str, int]:
    """`n` samples (alternating classes) in shards of `per_shard`, each `.txt` holding every caption, one
    per line, as the export writes them."""
    rng = np.random.default_rng(0)
    with ShardWriter(out_dir, "train", per_shard) as writer:
        for i in range(n):
            c = i % 2
            writer.write({"key": f"{i:06d}", "image": png(c, rng), "image_ext": "png",
                          "txt": "\n".join(captions(c)), "json": {"label": CLASSES[c]}})
    return shard_pattern(out_dir, "train", len(writer.shards)), n


def tiny_bert(folder: Path) -> str:
    """A randomly initialized 2-layer BERT and its WordPiece tokenizer, saved by transformers to `folder`."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = " ".join(captions(0) + captions(1)).lower().replace(",", " ").replace(".", " ").split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *string.ascii_lowercase, *string.digits,
             "-", ",", "."]
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    config = BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=288)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return str(folder)


def tiny_hf_clip(bert_dir: str, text_cfg: dict, seed: int = 0):
    """A tiny open_clip CLIP (the default's image tower) with `bert_dir`'s BERT as its text tower, configured
    by `text_cfg`; returns (model, its model config)."""
    import json

    import open_clip
    import torch

    from models.clip.model_configs import CONFIG_DIR, DEFAULT_MODEL, register_config

    base = json.loads((CONFIG_DIR / f"{DEFAULT_MODEL}.json").read_text())
    config = {**base, "text_cfg": {"hf_model_name": bert_dir, "hf_tokenizer_name": bert_dir, **text_cfg}}
    torch.manual_seed(seed)
    model = open_clip.create_model(register_config(config), pretrained_text=False)
    return model.eval(), config


def save_hf_hub_folder(model, model_cfg: dict, folder: Path, weights: str, preprocess_cfg: dict) -> Path:
    """`model` saved as open_clip's hf-hub folder is published (BiomedCLIP's): open_clip_config.json with
    `model_cfg` and `preprocess_cfg`, and the weights as `weights` (.bin: torch.save; .safetensors)."""
    import json

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if weights.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(folder / weights))
    else:
        torch.save(state, folder / weights)
    return folder


def save_unimed_checkpoint(model, path: Path) -> Path:
    """`model` saved as UniMed-CLIP's trainer saves its released checkpoints (src/training/main.py under DDP):
    {"epoch", "name", "state_dict", "optimizer"}, every key prefixed "module.", its fork's text tower under
    `text_encoder.`, and the BERT's position_ids buffer that transformers before 4.31 saved."""
    import torch

    state = {("text_encoder." + k[len("text."):] if k.startswith("text.") else k): v
             for k, v in model.state_dict().items()}
    bert = model.text.transformer
    state["text_encoder.transformer.embeddings.position_ids"] = torch.arange(bert.config.max_position_embeddings)[None]
    optimizer = torch.optim.AdamW(model.parameters())
    torch.save({"epoch": 10, "name": "unimed", "state_dict": {f"module.{k}": v for k, v in state.items()},
                "optimizer": optimizer.state_dict()}, path)
    return path
