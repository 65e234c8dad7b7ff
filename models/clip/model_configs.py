"""MedPairs' own open_clip model configs (JSON files in `configs/`), registered with open_clip by name."""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_MODEL = "medpairs-tiny"


def config_names() -> list[str]:
    """Model names our configs define (the JSON file stems)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def register_model_configs() -> list[str]:
    """Make our configs known to open_clip (`create_model`, `get_tokenizer`, the trainer's `--model`).

    Idempotent: open_clip rescans its config paths, so registering twice changes nothing.
    """
    import open_clip

    if not set(config_names()) <= set(open_clip.list_models()):
        open_clip.add_model_config(CONFIG_DIR)
    return config_names()
