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


def _state_dict_from_checkpoint(checkpoint_path: str) -> dict[str, torch.Tensor]:
    with fsspec.open(checkpoint_path, "rb") as f:
        ckpt = torch.load(f, map_location="cpu", weights_only=True)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    # the trainer saves DDP-wrapped models with a "module." prefix on every key
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_clip(model_name: str, checkpoint: str | None = None, *, seed: int = 0, device: str = "cpu") -> ClipBundle:
    """The model `model_name` with weights from `checkpoint` (a file written by open_clip's trainer, local
    or remote), or, with no checkpoint, freshly initialized from `seed`: the untrained baseline."""
    import open_clip

    register_model_configs()
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, device=device)
    if checkpoint is not None:
        model.load_state_dict(_state_dict_from_checkpoint(checkpoint), strict=True)
    model.eval()
    return ClipBundle(model, preprocess, open_clip.get_tokenizer(model_name), model_name, checkpoint)


def class_prompts(class_name: str, templates: Sequence[str], modality: str | None = None) -> list[str]:
    phrase = MODALITY_PHRASES.get(modality or "", modality or "medical")
    return [t.format(class_name, c=class_name, modality=phrase) for t in templates]


@torch.no_grad()
def build_zero_shot_classifier(
    model, tokenizer, class_names: Sequence[str], templates: Sequence[str], modality: str | None = None
) -> torch.Tensor:
    """Text classifier weights [embed_dim, num_classes]: per class, the normalized mean of its prompts'
    normalized text embeddings."""
    device = next(model.parameters()).device
    weights = []
    for name in class_names:
        tokens = tokenizer(class_prompts(name, templates, modality)).to(device)
        emb = model.encode_text(tokens, normalize=True).mean(dim=0)
        weights.append(emb / emb.norm())
    return torch.stack(weights, dim=1)


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
