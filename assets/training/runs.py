"""What the training asset hands on: which shards to train on, and which run produced which checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import fsspec

from assets.export.webdataset import SIZES_NAME, shard_pattern
from models.clip.train import TrainSettings, summarize_run

POINTER_NAME = "medpairs_run.json"


def read_shard_index(shards_dir: str, prefix: str = "train") -> tuple[str, int]:
    """The brace pattern of the exported shards and their total sample count (from sizes.json)."""
    with fsspec.open(f"{shards_dir}/{SIZES_NAME}", "rt") as f:
        sizes = {name: n for name, n in json.load(f).items() if name.startswith(f"{prefix}-")}
    if not sizes:
        raise FileNotFoundError(f"no {prefix} shards listed in {shards_dir}/{SIZES_NAME}")
    return shard_pattern(shards_dir, prefix, len(sizes)), sum(sizes.values())


def write_run_pointer(logs_dir: str, name: str, settings: TrainSettings) -> dict:
    """Record the finished run's model name, checkpoint and settings for the evaluation asset."""
    summary = summarize_run(logs_dir, name)
    pointer = {"model": settings.model, "checkpoint": summary["checkpoint"], "settings": asdict(settings)}
    (Path(logs_dir) / name / POINTER_NAME).write_text(json.dumps(pointer, indent=2))
    return pointer


def read_run_pointer(logs_dir: str, name: str) -> dict:
    return json.loads((Path(logs_dir) / name / POINTER_NAME).read_text())
