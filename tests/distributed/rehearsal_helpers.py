"""Watching a rehearsal's runs in its instance, and killing the process that runs a step on a worker."""

from __future__ import annotations

import os
import signal
import time

import dagster as dg

from deploy.rehearsal.services import Worker

EXECUTING = "Executing steps {step} in celery worker"  # dagster-celery's engine event when a worker starts a step


def step_starts(instance: dg.DagsterInstance, run_id: str, step: str) -> list[str]:
    """The workers (`worker-<i>`) that started `step` of run `run_id`, in order, as the instance recorded it."""
    starts = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        if event.message and event.message.endswith(EXECUTING.format(step=step)):
            starts.append(event.event_specific_data.metadata["Celery worker"].value.split("@")[0])
    return starts


def step_successes(instance: dg.DagsterInstance, run_id: str, step: str) -> int:
    return sum(r.dagster_event.step_key == step for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS))


def kill_step(instance: dg.DagsterInstance, workers: list[Worker], job: str, step: str, after_s: float,
              timeout_s: float = 1200) -> dict:
    """SIGKILL the pool process of the worker that runs `step` of the first run of `job` to start it,
    `after_s` seconds after it started (as the out-of-memory killer would); what was killed, and whether
    the step had already succeeded then (the kill then proved nothing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for run in instance.get_runs(dg.RunsFilter(job_name=job)):
            started = step_starts(instance, run.run_id, step)
            if started:
                time.sleep(after_s)
                worker = next(w for w in workers if w.name == started[0])
                done_before = step_successes(instance, run.run_id, step) > 0
                for pid in worker.step_processes():
                    os.kill(pid, signal.SIGKILL)
                return {"run_id": run.run_id, "worker": worker.name, "succeeded_before_kill": done_before}
        time.sleep(0.2)
    raise AssertionError(f"no run of {job} started {step} within {timeout_s} s")
