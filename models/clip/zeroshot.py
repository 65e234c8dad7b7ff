"""Zero-shot classification with an open_clip model: load a trained checkpoint (or an untrained twin as a
baseline), turn class names into text classifier weights through prompt templates, and predict."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import fsspec
import numpy as np
import torch
from PIL import Image

from models.clip.model_configs import register_model_configs

log = logging.getLogger(__name__)

# Templates take the class name as `{}` or `{c}` and the modality phrase as `{modality}`.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a {modality} image showing {c}.",
    "this is an image of {c}.",
    "a {modality} image of {c}.",
    "{c} seen on {modality}.",
    "findings consistent with {c}.",
)

# How captions usually name each catalog modality.
MODALITY_PHRASES = {
    "xray": "X-ray",
    "ct": "CT",
    "mri": "MRI",
    "ultrasound": "ultrasound",
    "pathology": "histopathology",
    "fundus": "fundus photograph",
}


@dataclass
class ClipBundle:
    """A model with the image transform and tokenizer that belong to it."""

    model: torch.nn.Module
    preprocess: object
    tokenizer: object
    model_name: str
    checkpoint: str | None


def read_state_dict(checkpoint_path: str) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint file (local or fsspec URL): a bare state dict or a trainer's
    {"state_dict": ...}, or a safetensors file."""
    with fsspec.open(checkpoint_path, "rb") as f:
        if checkpoint_path.endswith(".safetensors"):
            from safetensors.torch import load

            return load(f.read())
        ckpt = torch.load(f, map_location="cpu", weights_only=True)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    # the trainer saves DDP-wrapped models with a "module." prefix on every key
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_clip(model_name: str, checkpoint: str | None = None, *, seed: int = 0, device: str = "cpu",
              text_tower: str | None = None) -> ClipBundle:
    """The model `model_name` with weights from `checkpoint` (a file written by open_clip's trainer, local
    or remote), or, with no checkpoint, freshly initialized from `seed`: the untrained baseline.
    `text_tower` is the local folder of the config's Hugging Face text tower, as in training."""
    import open_clip

    register_model_configs(text_tower)
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, device=device)
    if checkpoint is not None:
        model.load_state_dict(read_state_dict(checkpoint), strict=True)
    model.eval()
    return ClipBundle(model, preprocess, open_clip.get_tokenizer(model_name), model_name, checkpoint)


def class_prompts(class_name: str, templates: Sequence[str], modality: str | None = None) -> list[str]:
    phrase = MODALITY_PHRASES.get(modality or "", modality or "medical")
    return [t.format(class_name, c=class_name, modality=phrase) for t in templates]


@torch.no_grad()
def encode_texts(model, tokenizer, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Normalized text embeddings [N, embed_dim]."""
    device = next(model.parameters()).device
    out = [model.encode_text(tokenizer(list(texts[i : i + batch_size])).to(device), normalize=True).float().cpu()
           for i in range(0, len(texts), batch_size)]
    return torch.cat(out) if out else torch.empty(0, 0)


@torch.no_grad()
def classifier_from_prompts(model, tokenizer, prompts: Sequence[Sequence[str]]) -> torch.Tensor:
    """Text classifier weights [embed_dim, num_classes] from each class's prompts, scored as UniMed-CLIP
    and BiomedCLIP do: encode every prompt, normalize, average per class, renormalize."""
    flat = [p for class_prompts_ in prompts for p in class_prompts_]
    if any(len(c) == 0 for c in prompts):
        raise ValueError("every class needs at least one prompt")
    emb = encode_texts(model, tokenizer, flat)
    weights, start = [], 0
    for class_prompts_ in prompts:
        mean = emb[start : start + len(class_prompts_)].mean(dim=0)
        weights.append(mean / mean.norm())
        start += len(class_prompts_)
    return torch.stack(weights, dim=1)


def build_zero_shot_classifier(
    model, tokenizer, class_names: Sequence[str], templates: Sequence[str], modality: str | None = None
) -> torch.Tensor:
    """Text classifier weights [embed_dim, num_classes] of class names filled into `templates`."""
    return classifier_from_prompts(model, tokenizer, [class_prompts(n, templates, modality) for n in class_names])


@torch.no_grad()
def encode_images(model, preprocess, images: Sequence[bytes], batch_size: int = 64) -> torch.Tensor:
    """Normalized image embeddings [N, embed_dim] of encoded image files."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        batch = torch.stack([preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in chunk]).to(device)
        out.append(model.encode_image(batch, normalize=True).float().cpu())
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out)


@torch.no_grad()
def zero_shot_predict(
    model,
    preprocess,
    tokenizer,
    images: Sequence[bytes],
    class_names: Sequence[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    *,
    modality: str | None = None,
    batch_size: int = 64,
    return_scores: bool = False,
):
    """Index into `class_names` of the predicted class of every image (np.ndarray of int64); with
    `return_scores`, also the cosine similarities [N, num_classes]."""
    if len(images) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return (empty, np.zeros((0, len(class_names)), dtype=np.float32)) if return_scores else empty
    classifier = build_zero_shot_classifier(model, tokenizer, class_names, templates, modality).float().cpu()
    scores = encode_images(model, preprocess, images, batch_size) @ classifier
    pred = scores.argmax(dim=1).numpy().astype(np.int64)
    return (pred, scores.numpy()) if return_scores else pred
