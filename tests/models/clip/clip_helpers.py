"""Tiny learnable shards with several captions per sample, and a tiny random BERT saved as a local folder,
for the training tests."""

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
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    config = BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=288)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return str(folder)
