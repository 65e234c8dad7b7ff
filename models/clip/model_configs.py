"""MedPairs' own open_clip model configs (JSON files in `configs/`), registered with open_clip by name.

- `medpairs-tiny-l2`: a small ViT (64 px, patches of 8) and transformer, two layers each, trained from
  scratch on CPU (the default).
- `medpairs-tiny`, `medpairs-tiny-p16`: the same with four layers per tower (the previous default, about
  three times the compute per step), and four layers with patches of 16 px (`python -m bench.training`
  compares them).
- `medpairs-vit-b16-biomedbert`: UniMed-CLIP's shape for GPUs: ViT-B/16 at 224 px (QuickGELU, as UniMed's
  `ViT-B-16-quickgelu`) with a BiomedBERT text tower (Hugging Face, context 256, CLS pooling, MLP projection).
- `medpairs-tiny-hf`: the tiny ViT with a small Hugging Face BERT-class text tower (all-MiniLM-L6-v2's shape),
  for CPU runs with a pretrained text encoder.

A config's Hugging Face text tower names a hub id. With no hub, `text_tower` points it at a local folder
holding the model and its tokenizer (what `save_pretrained` writes); the configs are then registered again
with that folder in place of the hub id, in a folder of this process, for the rest of the process.
`register_config` puts a config that comes with a checkpoint (models/clip/pretrained.py) there too.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_MODEL = "medpairs-tiny-l2"
GPU_MODEL = "medpairs-vit-b16-biomedbert"


def config_names() -> list[str]:
    """Model names our configs define (the JSON file stems)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def with_text_tower(config: dict, text_tower: str) -> dict:
    """`config` with its Hugging Face text tower (model and tokenizer) loaded from the folder `text_tower`."""
    text_cfg = dict(config.get("text_cfg", {}))
    if "hf_model_name" not in text_cfg:
        raise ValueError("this model config has no Hugging Face text tower to load from a folder")
    path = str(Path(text_tower).expanduser().resolve())
    text_cfg["hf_model_name"] = text_cfg["hf_tokenizer_name"] = path
    return {**config, "text_cfg": text_cfg}


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

    With `text_tower`, configs with a Hugging Face text tower load it from that folder instead of the hub.
    Idempotent: open_clip rescans its config paths, so registering twice changes nothing.
    """
    import open_clip

    if not set(config_names()) <= set(open_clip.list_models()):
        open_clip.add_model_config(CONFIG_DIR)
    if text_tower is not None:
        folder = _process_config_dir()
        for path in sorted(CONFIG_DIR.glob("*.json")):
            config = json.loads(path.read_text())
            if "hf_model_name" in config.get("text_cfg", {}):
                (folder / path.name).write_text(json.dumps(with_text_tower(config, text_tower), indent=1))
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
