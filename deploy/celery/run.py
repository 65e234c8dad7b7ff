"""`python -m deploy.celery.run [-c config.yaml] [--only-sources a,b] [--ingest-only]`: what
`python -m pipelines.run` does (sources_job, ingest_job per source, medpairs_job, every run in the
instance $DAGSTER_HOME names), with every step sent to the Celery workers of deploy/celery/definitions.py.
Each run is launched in a process of its own, as Dagster's run launcher does (Dagster's event logging is
not safe for several runs in threads of one process), and the source partitions are ingested
`MEDPAIRS_INGEST_CONCURRENCY` (default 4) runs at a time, so they fan out over the workers. The instance
must be one the workers reach (PostgreSQL), the storage root too (S3).

    python -m deploy.celery.run --execute-run JOB [PARTITION] < run_config.json   # one run; what the above starts
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import dagster as dg

from pipelines.run import JobRunner, main


@dataclass
class RecordedRun:
    """A finished run as the instance recorded it: what pipelines.run reads of a run's result."""

    dagster_run: dg.DagsterRun
    all_events: list[dg.DagsterEvent]

    @property
    def success(self) -> bool:
        return self.dagster_run.status == dg.DagsterRunStatus.SUCCESS

    def get_asset_materialization_events(self) -> list[dg.DagsterEvent]:
        return [e for e in self.all_events if e.is_step_materialization]


def execute_run(job_name: str, partition_key: str | None, run_config: dict) -> str:
    """Run `job_name` (its steps on the workers) in this process; its run id."""
    recon = dg.build_reconstructable_job("deploy.celery.definitions", "job", reconstructable_args=(job_name,))
    tags = {"dagster/partition": partition_key} if partition_key else None
    with dg.DagsterInstance.get() as instance, dg.execute_job(recon, instance, run_config=run_config, tags=tags) as result:
        return result.run_id


def on_celery(instance: dg.DagsterInstance) -> JobRunner:
    """Each run in a process of its own (`--execute-run`), read back from the instance when it ends."""
    def run(job: dg.JobDefinition, run_config: dict, partition_key: str | None) -> RecordedRun:
        done = subprocess.run([sys.executable, "-m", "deploy.celery.run", "--execute-run", job.name,
                               *([partition_key] if partition_key else [])],
                              input=json.dumps(run_config), stdout=subprocess.PIPE, text=True, check=True)
        run_id = done.stdout.strip().splitlines()[-1]
        events = [r.dagster_event for r in instance.all_logs(run_id) if r.is_dagster_event]
        return RecordedRun(instance.get_run_by_id(run_id), events)
    return run


if __name__ == "__main__":
    if sys.argv[1:2] == ["--execute-run"]:
        print(execute_run(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None, json.load(sys.stdin)))
        sys.exit(0)
    sys.exit(main(definitions_module="deploy.celery.definitions", runner=on_celery,
                  ingest_concurrency=int(os.environ.get("MEDPAIRS_INGEST_CONCURRENCY", "4"))))
