"""Ctrl-C during the LLM captions of `python -m pipelines.run`, sent for real to the process group as
a terminal does: the command exits within seconds (it used to retry the step and go on generating),
the run is marked failed, the gpu pool is free and no caption file is published."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
ops:
  synthetic_source: {config: {train_per_class: 2, test_per_class: 1, image_size: 32}}
  class_captions: {config: {captions_per_class: 3, max_rounds: 2}}
"""


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    """The output up to the first line holding `marker` (the process's stdout and stderr, merged)."""
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


@pytest.mark.slow
def test_ctrl_c_during_captions_stops_the_run_within_seconds(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry: {enabled: false}\nconcurrency: {pools: {default_limit: 1}}\n")
    (tmp_path / "run.yaml").write_text(CONFIG)
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), MEDPAIRS_STORAGE_ROOT=str(tmp_path / "data"),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.run", "-c", str(tmp_path / "run.yaml"),
                             "--only-sources", "synthetic_ct"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        read_until(proc, "models.captioning.transformers_backend: loaded", timeout=300)
        time.sleep(2)  # generating now
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert took < 10, f"exited {took:.1f}s after Ctrl-C"
    assert proc.returncode == 130, out[-3000:]
    assert "STEP_UP_FOR_RETRY" not in out
    assert not (tmp_path / "data" / "captions" / "class_captions.parquet").exists()
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name="medpairs_job"))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.FAILURE]
        assert not instance.event_log_storage.get_concurrency_info("gpu").claimed_slots
