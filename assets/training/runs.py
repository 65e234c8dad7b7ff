"""What the training asset hands on: which shards to train on, and which run produced which checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import fsspec
import pyarrow.parquet as pq

from assets.export.webdataset import SHARDS_NAME, SIZES_NAME, shard_pattern
from models.clip.train import TrainSettings, summarize_run

POINTER_NAME = "medpairs_run.json"


class ShardIndex(NamedTuple):
    pattern: str  # open_clip brace pattern of the shards
    num_samples: int
    digest: str  # sha256 over every shard's name and sha256: the data a run trained on


def read_shard_index(shards_dir: str, prefix: str = "train") -> ShardIndex:
    """The exported shards of `prefix`: brace pattern, total samples (sizes.json) and a digest of their
    contents (shards.parquet)."""
    with fsspec.open(f"{shards_dir}/{SIZES_NAME}", "rt") as f:
        sizes = {name: n for name, n in json.load(f).items() if name.startswith(f"{prefix}-")}
    if not sizes:
        raise FileNotFoundError(f"no {prefix} shards listed in {shards_dir}/{SIZES_NAME}")
    with fsspec.open(f"{shards_dir}/{SHARDS_NAME}", "rb") as f:
        table = pq.read_table(f, columns=["shard", "sha256"])
    rows = sorted(zip(table.column("shard").to_pylist(), table.column("sha256").to_pylist()))
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    return ShardIndex(shard_pattern(shards_dir, prefix, len(sizes)), sum(sizes.values()), digest)


def write_run_pointer(logs_dir: str, name: str, settings: TrainSettings) -> dict:
    """Record the finished run's model name, checkpoint and settings for the evaluation asset."""
    summary = summarize_run(logs_dir, name)
    # The checkpoint relative to the run folder: the folder may be a copy elsewhere (local_folder).
    checkpoint = os.path.relpath(summary["checkpoint"], Path(logs_dir) / name)
    pointer = {"model": settings.model, "checkpoint": checkpoint, "settings": asdict(settings)}
    (Path(logs_dir) / name / POINTER_NAME).write_text(json.dumps(pointer, indent=2))
    return {**pointer, "checkpoint": summary["checkpoint"]}


def finished_run(logs_dir: str, name: str, settings: TrainSettings) -> dict | None:
    """The summary of run `name` when it already trained all of `settings.epochs` with `settings` (its
    pointer names its last checkpoint), else None. Call after `prepare_run_dir` kept the folder (same
    settings and data): then nothing is left to train."""
    pointer = read_run_pointer(logs_dir, name, missing_ok=True)
    summary = summarize_run(logs_dir, name)
    same_settings = pointer is not None and pointer["settings"] == json.loads(json.dumps(asdict(settings)))
    if same_settings and summary["epochs_completed"] == settings.epochs and pointer["checkpoint"] == summary["checkpoint"]:
        return summary
    return None


def read_run_pointer(logs_dir: str, name: str, *, missing_ok: bool = False) -> dict | None:
    """The run pointer `write_run_pointer` left for run `name`; with `missing_ok`, None when it never ran."""
    run_dir = f"{logs_dir}/{name}"
    fs, path = fsspec.core.url_to_fs(f"{run_dir}/{POINTER_NAME}")
    if missing_ok and not fs.exists(path):
        return None
    with fs.open(path, "rt") as f:
        pointer = json.load(f)
    # Its checkpoint under the run folder at `logs_dir` (os.path.join keeps a pointer's absolute path).
    return {**pointer, "checkpoint": os.path.join(run_dir, pointer["checkpoint"])}
