"""Ctrl-C during `python -m pipelines.run`, sent for real to the process group as a terminal does, in
ingest, in the LLM captions and in training (the same project, run again after each): the command
exits within seconds (captions used to retry the step and go on generating), the run is marked
failed, the gpu pool is free and nothing of the interrupted step is published."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.pipelines.pipeline_process import make_project, read_until, start_pipeline


def interrupt(home: Path, marker: str, delay: float) -> str:
    """Start the pipeline in `home`, press Ctrl-C `delay` s after `marker`; the output. Asserts the
    prompt is back within 10 s, with exit code 130."""
    proc = start_pipeline(home)
    try:
        seen = read_until(proc, marker, timeout=600)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert took < 10, f"exited {took:.1f}s after Ctrl-C at {marker!r}"
    assert proc.returncode == 130, (seen + out)[-3000:]
    assert "STEP_UP_FOR_RETRY" not in seen + out
    return seen + out


@pytest.mark.slow
def test_ctrl_c_in_any_long_step_stops_the_run_within_seconds(tmp_path):
    make_project(tmp_path)
    interrupt(tmp_path, 'Started execution of step "raw_samples"', 0.2)
    interrupt(tmp_path, "models.captioning.transformers_backend: loaded", 2.0)  # generating
    assert not (tmp_path / "data" / "captions" / "class_captions.parquet").exists()
    interrupt(tmp_path, "open_clip_train --", 3.0)  # training
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_latest_materialization_event(dg.AssetKey("clip_model")) is None
        runs = instance.get_runs()
        assert runs and all(r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS) for r in runs)
        assert sum(r.status == dg.DagsterRunStatus.FAILURE for r in runs) == 3
        assert not instance.event_log_storage.get_concurrency_info("gpu").claimed_slots
