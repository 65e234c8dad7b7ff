"""MedPairs on Celery workers: the code location of pipelines/definitions.py, unchanged, with every step
sent by dagster-celery's `celery_executor` to whichever worker takes it from the broker.

Broker and result backend are one Redis (`MEDPAIRS_CELERY_BROKER`, e.g. redis://redis:6379/0), read by
the launching process here and by every worker started with the same settings:

    dagster-celery worker start -A dagster_celery.app -y deploy/celery/worker.yaml -- --concurrency 1

A step is acknowledged only when it ends (`task_acks_late`), and a step whose process dies (killed, out
of memory) goes back to the queue (`task_reject_on_worker_lost`), so another worker runs it again in the
same run: every step publishes its files whole, so a rerun replaces what the dead one left unpublished.
deploy/rehearsal runs this on loopback against PostgreSQL, S3 (moto) and Redis (`make rehearsal`).
"""

from __future__ import annotations

import dagster as dg
from dagster_celery import celery_executor

import pipelines.definitions as medpairs  # the module, so that one Definitions sits at this module's scope

# Celery settings shared by the executor and the workers (worker.yaml holds the same).
CELERY_SETTINGS = {"task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1}

medpairs_celery_executor = celery_executor.configured(
    {"broker": {"env": "MEDPAIRS_CELERY_BROKER"}, "backend": {"env": "MEDPAIRS_CELERY_BROKER"},
     "config_source": CELERY_SETTINGS},
    name="medpairs_celery",
)

defs = dg.Definitions.merge(medpairs.defs, dg.Definitions(executor=medpairs_celery_executor))


def job(name: str) -> dg.JobDefinition:
    """Job `name` of this code location: what `dg.build_reconstructable_job` rebuilds in every worker."""
    return defs.resolve_job_def(name)
