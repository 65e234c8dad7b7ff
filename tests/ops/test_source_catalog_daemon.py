"""source_catalog_sensor under the real daemon: `dagster-daemon run` over a fresh instance and the
default catalog (the embedded synthetic sources), the sensor turned on with `dagster sensor start`.
Its first tick must not launch ingests whose inputs do not exist yet: it draws synthetic_source,
and a later tick ingests the six synthetic partitions; no run fails."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from ops_helpers import ROOT, TELEMETRY_OFF

from assets.sources.synthetic import SYNTHETIC_SOURCES

BIN = Path(sys.executable).parent
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture
def fresh_project(tmp_path) -> dict[str, str]:
    """The environment of the default project (no MEDPAIRS_CATALOG: pipelines/catalog.yaml) with its
    storage root and DAGSTER_HOME under tmp_path."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(TELEMETRY_OFF)
    env = {k: v for k, v in os.environ.items() if k not in ("MEDPAIRS_CATALOG", "MEDPAIRS_ENV")}
    # The sensor looks every 5 s (60 by default): the test waits for its second tick.
    return {**env, "DAGSTER_HOME": str(home), "MEDPAIRS_STORAGE_ROOT": str(tmp_path / "data"),
            "MEDPAIRS_CATALOG_POLL_S": "5", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _wait_for_ingests(instance: dg.DagsterInstance, daemon: subprocess.Popen, log: Path, timeout: float
                      ) -> list[dg.RunRecord]:
    """The run records once every synthetic partition has a finished ingest run (or a run failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the daemon exited:\n{log.read_text()[-4000:]}"
        records = instance.get_run_records()
        if any(r.dagster_run.status == dg.DagsterRunStatus.FAILURE for r in records):
            return records
        ingests = [r for r in records if r.dagster_run.job_name == "ingest_job"]
        if len(ingests) >= len(SYNTHETIC_SOURCES) and all(r.dagster_run.status in FINISHED for r in records):
            return records
        time.sleep(2)
    pytest.fail(f"the synthetic partitions were not ingested in {timeout:.0f} s: "
                f"{[(r.dagster_run.job_name, r.dagster_run.status) for r in instance.get_run_records()]}\n"
                f"{log.read_text()[-4000:]}")


@pytest.mark.slow
def test_sensor_draws_the_synthetic_source_before_ingesting_it(fresh_project, tmp_path):
    started = subprocess.run([BIN / "dagster", "sensor", "start", "source_catalog_sensor", "-w", "workspace.yaml"],
                             cwd=ROOT, env=fresh_project, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen([BIN / "dagster-daemon", "run", "-w", "workspace.yaml"], cwd=ROOT,
                                  env=fresh_project, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with dg.DagsterInstance.from_config(fresh_project["DAGSTER_HOME"]) as instance:
            records = _wait_for_ingests(instance, daemon, log, timeout=600)  # six ingest runs on 2 busy cores
            runs = [(r.dagster_run.job_name, r.dagster_run.tags.get("dagster/partition"), r.dagster_run.status)
                    for r in records]
            assert all(status == dg.DagsterRunStatus.SUCCESS for *_, status in runs), runs
            drawn = instance.get_latest_materialization_event(dg.AssetKey("synthetic_source"))
            assert drawn is not None, runs
            ingests = [r for r in records if r.dagster_run.job_name == "ingest_job"]
            assert sorted(r.dagster_run.tags["dagster/partition"] for r in ingests) == sorted(
                s.name for s in SYNTHETIC_SOURCES)
            assert all(r.create_timestamp.timestamp() > drawn.timestamp for r in ingests), runs
    finally:
        daemon.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):  # its code server and run workers, if any are left
            os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
