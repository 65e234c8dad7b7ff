"""The Dagster command line as CI drives it: `dagster job execute` for sources_job, then for
ingest_job with a partition tag, on an instance of its own."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).parent / "dagster")


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 20), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_dagster_job_execute_runs_sources_then_one_ingest_partition(tmp_path):
    for i, label in enumerate(["normal", "effusion"]):
        (tmp_path / "src" / label).mkdir(parents=True)
        (tmp_path / "src" / label / f"{i}.png").write_bytes(_png(i))
    (tmp_path / "catalog.yaml").write_text(
        "sources:\n  - {name: cli_src, modality: xray, format: imagefolder, location: src, split: {fixed: train}}\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "MEDPAIRS_STORAGE_ROOT": str(tmp_path / "data"),
           "MEDPAIRS_CATALOG": str(tmp_path / "catalog.yaml")}

    def execute(*args: str) -> None:
        done = subprocess.run([DAGSTER, "job", "execute", "-m", "pipelines.definitions", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    config = tmp_path / "sources.yaml"
    config.write_text(json.dumps(  # JSON is YAML
        {"ops": {"synthetic_source": {"config": {"train_per_class": 1, "test_per_class": 1, "image_size": 16}}}}))
    execute("-j", "sources_job", "-c", str(config))
    execute("-j", "ingest_job", "--tags", json.dumps({"dagster/partition": "cli_src"}))
    rows = pq.read_table(tmp_path / "data/raw_samples/samples/cli_src").to_pylist()
    assert sorted(r["label"] for r in rows) == ["effusion", "normal"]
