"""SIGKILL for real, as the out-of-memory killer would: `python -m pipelines.run` killed (its whole
process group) during ingest, between caption rounds, during the shard export and during training;
each next run needs no manual step, says what it reused, and the last one ends with the dataset
(curated pairs, shard hashes) of an uninterrupted run."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.pipelines.pipeline_process import make_project, read_until, start_pipeline


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    return out


def kill_when(proc: subprocess.Popen, marker: str, delay: float) -> str:
    seen = read_until(proc, marker, timeout=600)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen


def dataset(home: Path) -> tuple[str, list]:
    pairs = home / "data/curated/curated_pairs.parquet"
    shards = pq.read_table(home / "data/shards/shards.parquet").to_pylist()
    return hashlib.sha256(pairs.read_bytes()).hexdigest(), sorted((s["shard"], s["sha256"]) for s in shards)


@pytest.mark.slow
def test_killed_anywhere_the_next_run_goes_on_to_the_same_dataset(tmp_path):
    clean = make_project(tmp_path / "clean")
    finish(start_pipeline(clean))

    home = make_project(tmp_path / "killed")
    kill_when(start_pipeline(home), 'Started execution of step "raw_samples"', 0.2)
    out = kill_when(start_pipeline(home), "caption round 1:", 1.0)  # round 1 checkpointed, round 2 under way
    assert "was still marked STARTED but its process is gone" in out  # the killed ingest run, swept
    out = kill_when(start_pipeline(home), 'Started execution of step "webdataset_shards"', 0.3)
    assert "captions resumed after round 1" in out
    kill_when(start_pipeline(home), "open_clip_train --", 3.0)  # training under way
    out = finish(start_pipeline(home))
    assert "its process is gone" in out  # the run killed in training, swept; no pool slot left held

    assert dataset(home) == dataset(clean)
