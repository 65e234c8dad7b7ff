"""The Celery deployment (deploy/celery) loads: every job of the project's code location runs on the
Celery executor, whose settings match the workers' (worker.yaml), and `dagster definitions validate`
accepts the module. tests/distributed runs it for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from ops_helpers import ROOT

from deploy.celery.definitions import CELERY_SETTINGS, defs, job
from pipelines.jobs import all_jobs


def test_every_job_runs_on_the_celery_executor_with_the_workers_settings():
    assert {job(j.name).executor_def.name for j in all_jobs} == {"medpairs_celery"}
    worker = yaml.safe_load((ROOT / "deploy" / "celery" / "worker.yaml").read_text())["execution"]["config"]
    assert worker["config_source"] == CELERY_SETTINGS
    assert worker["broker"] == worker["backend"] == {"env": "MEDPAIRS_CELERY_BROKER"}
    assert defs.resolve_job_def("medpairs_job").executor_def is job("medpairs_job").executor_def


def test_dagster_cli_validates_the_celery_location(tmp_path):
    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m",
                           "deploy.celery.definitions"], check=False, cwd=ROOT,
                          env={**os.environ, "DAGSTER_HOME": str(tmp_path)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
