"""Runs whose process was SIGKILLed: a real job holding the `gpu` pool, killed for real in a
subprocess, then cleared by the start-up sweep and by stale_runs_sensor; a live run is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg
import pytest

from pipelines.sensors import make_stale_runs_sensor
from pipelines.stale_runs import process_started_at, sweep_dead_runs

JOB = textwrap.dedent('''
    import sys, time
    import dagster as dg

    @dg.asset(pool="gpu")
    def holds_the_gpu():
        time.sleep(float(sys.argv[1]))

    job = dg.Definitions(assets=[holds_the_gpu], jobs=[dg.define_asset_job("gpu_job")]).resolve_job_def("gpu_job")
    if __name__ == "__main__":
        with dg.DagsterInstance.get() as instance:
            sys.exit(0 if job.execute_in_process(instance=instance, raise_on_error=False).success else 1)
''')


@pytest.fixture
def home(tmp_path, monkeypatch):
    (tmp_path / "dagster.yaml").write_text("telemetry: {enabled: false}\nconcurrency: {pools: {default_limit: 1}}\n")
    (tmp_path / "gpu_job.py").write_text(JOB)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return tmp_path


def start_job(home, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(home / "gpu_job.py"), str(seconds)], cwd=home,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def wait_for_claim(instance: dg.DagsterInstance, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        claimed = instance.event_log_storage.get_concurrency_info("gpu").claimed_slots
        if claimed:
            return claimed[0].run_id
        time.sleep(0.2)
    raise AssertionError("the job never claimed the gpu slot")


def gpu_slots_held(instance) -> int:
    return len(instance.event_log_storage.get_concurrency_info("gpu").claimed_slots)


def killed_run(home, instance) -> str:
    """The id of a run SIGKILLed while it held the gpu slot."""
    proc = start_job(home, 600)
    run_id = wait_for_claim(instance)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return run_id


def test_a_killed_run_is_failed_and_its_slot_freed(home):
    with dg.DagsterInstance.get() as instance:
        run_id = killed_run(home, instance)
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        assert gpu_slots_held(instance) == 1  # what blocked every later run

        assert sweep_dead_runs(instance) == [run_id]
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert gpu_slots_held(instance) == 0
        assert sweep_dead_runs(instance) == []  # nothing left to do
    # The next run gets the pool and finishes.
    assert start_job(home, 0).wait(timeout=120) == 0


def test_a_live_run_keeps_its_slot(home):
    proc = start_job(home, 600)
    try:
        with dg.DagsterInstance.get() as instance:
            run_id = wait_for_claim(instance)
            assert sweep_dead_runs(instance) == []
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
            assert gpu_slots_held(instance) == 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_sensor_clears_a_killed_run(home):
    with dg.DagsterInstance.get() as instance:
        run_id = killed_run(home, instance)
        result = make_stale_runs_sensor()(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason) and run_id[:8] in result.skip_message
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert gpu_slots_held(instance) == 0


def test_process_start_time():
    assert process_started_at(os.getpid()) <= time.time()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert process_started_at(dead.pid) is None
