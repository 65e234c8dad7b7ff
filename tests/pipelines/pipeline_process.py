"""`python -m pipelines.run` as a user starts it, in a project folder of a test's own: a Dagster
instance with the gpu pool, a storage root and a run config; its output read line by line."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A pipeline small enough to run several times in a test: 22 classes, 6 images each.
SMALL_CONFIG = """\
ops:
  synthetic_source: {config: {train_per_class: 4, test_per_class: 2, image_size: 32}}
  class_captions: {config: {captions_per_class: 2, max_rounds: 2}}
  webdataset_shards: {config: {samples_per_shard: 20}}
  clip_model: {config: {epochs: 2, batch_size: 16}}
"""


def make_project(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text("telemetry: {enabled: false}\nconcurrency: {pools: {default_limit: 1}}\n")
    (path / "run.yaml").write_text(SMALL_CONFIG)
    return path


def start_pipeline(home: Path) -> subprocess.Popen:
    """The pipeline on `home`'s instance, data and config, in a process group of its own (as a
    terminal's foreground job), stdout and stderr merged."""
    env = dict(os.environ, DAGSTER_HOME=str(home), MEDPAIRS_STORAGE_ROOT=str(home / "data"),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "pipelines.run", "-c", str(home / "run.yaml")], cwd=ROOT, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    """The output up to the first line holding `marker`."""
    seen, deadline = [], time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline:
        if not sel.select(timeout=1.0):
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} never appeared:\n{''.join(seen[-30:])}")
