"""Runs whose process is gone: marked failed, their pool slots freed.

A run killed without a chance to clean up (SIGKILL, the out-of-memory killer, a lost machine) stays
STARTED in the instance and keeps its claim on the `gpu` pool, so every later run waits at
`class_captions` forever. `sweep_dead_runs` finds them: an in-progress run whose step processes
(the pids its engine events name) are all gone from this machine, or were replaced by a newer
process with the same pid, is reported failed with a message saying why, and every slot a finished
run still holds is freed. `python -m pipelines.run` sweeps before it starts; by hand:

    python -m pipelines.stale_runs          # sweep $DAGSTER_HOME's instance
    dagster instance concurrency get --all  # what is claimed, by which run

Only a local instance (SQLite under $DAGSTER_HOME) can be decided this way: its runs ran on this
machine. With PostgreSQL shared by several machines a pid says nothing, so only slots of finished
runs are freed, and the daemon's run monitoring (dagster.yaml) handles lost run workers.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import dagster as dg
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.runs import SqliteRunStorage

log = logging.getLogger(__name__)


def process_started_at(pid: int) -> float | None:
    """Start time (epoch seconds) of process `pid` on this machine, None if there is none. On
    systems without /proc, a live pid gives 0.0 (alive, start time unknown)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # exists, another user's
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    except (OSError, ValueError, StopIteration):
        return 0.0
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def step_pids(instance: dg.DagsterInstance, run_id: str) -> set[int]:
    """The processes that executed the run's steps, from the pid every event of the run records."""
    return {record.dagster_event.pid for record in instance.all_logs(run_id)
            if record.dagster_event is not None and record.dagster_event.pid is not None}


def run_is_alive(instance: dg.DagsterInstance, run: dg.DagsterRun, *, started_at: float | None) -> bool:
    """Whether a process of the run may still be working: one of its pids is alive and was started
    no later than the run (a pid reused by a newer process does not count)."""
    pids = step_pids(instance, run.run_id)
    if not pids:  # queued or starting, nothing executed yet: not ours to decide
        return True
    for pid in pids:
        born = process_started_at(pid)
        if born is not None and (not started_at or born <= started_at + 1.0):
            return True
    return False


def sweep_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the in-progress runs whose processes are gone (local instance only) and free the
    pool slots of every run that is no longer in progress. Returns the run ids it acted on."""
    local = isinstance(instance.run_storage, SqliteRunStorage) or instance.is_ephemeral
    acted = []
    if local:
        for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES)):
            run = record.dagster_run
            if run.run_id == os.environ.get("DAGSTER_RUN_ID") or \
                    run_is_alive(instance, run, started_at=record.start_time):
                continue
            message = ("run's process is gone (killed, or its machine lost); marked failed and its pool "
                       "slots freed by the start-up sweep")
            instance.report_run_failed(run, message)
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            log.warning("run %s (%s) was still marked %s but its process is gone: marked failed, slots freed",
                        run.run_id[:8], run.job_name, run.status.value)
            acted.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids() - set(acted):
            run = instance.get_run_by_id(run_id)
            if run is None or run.status not in IN_PROGRESS_RUN_STATUSES:
                storage.free_concurrency_slots_for_run(run_id)
                log.warning("run %s holds pool slots but is %s: slots freed", run_id[:8],
                            run.status.value if run else "gone")
                acted.append(run_id)
    return acted


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        acted = sweep_dead_runs(instance)
    print(f"stale runs: {len(acted)} cleared in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
