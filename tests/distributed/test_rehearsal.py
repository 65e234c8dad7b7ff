"""The distributed rehearsal (`make rehearsal`, `pytest -m rehearsal`): the default job on two Celery
workers that share only PostgreSQL (the instance), S3 (moto: the storage root) and Redis (the broker),
each in its own working directory and temporary folder (deploy/rehearsal). Ingest partitions fan out
over both workers; a worker's step process is killed in the middle of an ingest and of the shard export,
and Celery hands each step to a worker again in the same run. The result equals the single-machine run's:
dataset version, every shard's hash, the report's numbers and every source's raw rows; nothing partial
is left on S3 and no worker kept anything in its own folder.

The run config is MEDPAIRS_REHEARSAL_CONFIG (`make rehearsal`: pipelines/configs/small.yaml), else
tests/distributed/tiny.yaml (what `.ci/run` runs)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import fsspec
import pytest
from rehearsal_helpers import kill_step, step_starts, step_successes

from assets.shared import layout
from deploy.rehearsal.cluster import dataset_fingerprint, loopback_cluster
from deploy.rehearsal.services import ROOT, postgres_bin, redis_binary
from tests.ops.ops_helpers import require

# A relative path is the repository's (make's working folder); the launcher runs from a folder of its own.
CONFIG = str(Path(ROOT, os.environ.get("MEDPAIRS_REHEARSAL_CONFIG") or Path(__file__).with_name("tiny.yaml")))
WORKER_FOLDER = {"dagster_home", "worker.log"}  # all a worker may keep of its own


def raw_rows(storage_root: str) -> dict[str, int]:
    """Rows of every raw-samples part file there is, by source (a leftover or doubled part shows)."""
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(storage_root)
    rows: dict[str, int] = {}
    for path in fs.glob(f"{root}/{layout.RAW_SAMPLES}/*/part-*.parquet"):
        with fs.open(path, "rb") as f:
            rows[path.split("/")[-2]] = rows.get(path.split("/")[-2], 0) + pq.ParquetFile(f).metadata.num_rows
    return rows


def single_machine_run(folder: Path) -> dict:
    """`python -m pipelines.run -c CONFIG` on a fresh local instance and storage root: the reference."""
    folder.mkdir()
    (folder / "dagster.yaml").write_text("telemetry: {enabled: false}\nconcurrency: {pools: {default_limit: 1}}\n")
    env = {**os.environ, "DAGSTER_HOME": str(folder), "MEDPAIRS_STORAGE_ROOT": str(folder / "data"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "pipelines.run", "-c", CONFIG], cwd=ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {**dataset_fingerprint(str(folder / "data")), "raw_rows": raw_rows(str(folder / "data"))}


@pytest.fixture
def services_installed():
    require(postgres_bin(), "PostgreSQL (Debian package postgresql)", required_by="MEDPAIRS_REQUIRE_POSTGRES")
    require(redis_binary(), "Redis (Debian package redis-server)", required_by="MEDPAIRS_REQUIRE_REDIS")


@pytest.mark.rehearsal
def test_default_job_on_two_workers_survives_two_kills_and_equals_the_single_machine_run(
        services_installed, tmp_path, monkeypatch):
    with ThreadPoolExecutor(1) as pool:
        reference = pool.submit(single_machine_run, tmp_path / "single")
        with loopback_cluster(tmp_path / "cluster", workers=2) as cluster:
            for name, value in cluster.env.items():  # the instance and S3, as the launcher reaches them
                if name.startswith(("DAGSTER_PG_", "AWS_")):
                    monkeypatch.setenv(name, value)
            with dg.DagsterInstance.from_config(str(cluster.launcher_home)) as instance:
                kills = {}

                def kill(job: str, step: str, after_s: float) -> None:
                    kills[step] = kill_step(instance, cluster.workers, job, step, after_s)

                killers = [threading.Thread(target=kill, args=args) for args in
                           (("ingest_job", "raw_samples", 1.0), ("medpairs_job", "webdataset_shards", 0.5))]
                for killer in killers:
                    killer.start()
                launcher = cluster.launch("-c", CONFIG)
                try:
                    out, _ = launcher.communicate(timeout=2400)
                finally:
                    launcher.kill()  # when the wait failed; a finished one is left as it is
                for killer in killers:
                    killer.join(timeout=60)
                assert launcher.returncode == 0 and "medpairs_job: ok" in out, out[-5000:]

                for step, killed in kills.items():
                    assert not killed["succeeded_before_kill"], killed
                    run = instance.get_run_by_id(killed["run_id"])
                    assert run.status == dg.DagsterRunStatus.SUCCESS
                    # started twice (the killed try and Celery's redelivery), succeeded once
                    assert len(step_starts(instance, run.run_id, step)) == 2, step
                    assert step_successes(instance, run.run_id, step) == 1, step
                assert set(kills) == {"raw_samples", "webdataset_shards"}
                ingest_runs = instance.get_runs(dg.RunsFilter(job_name="ingest_job"))
                ingest_workers = {w for r in ingest_runs for w in step_starts(instance, r.run_id, "raw_samples")}
                assert ingest_workers == {"worker-0", "worker-1"}

            fs, root = fsspec.core.url_to_fs(cluster.storage_root)
            assert not [p for p in fs.find(root) if p.endswith(".tmp")]
            assert not cluster.artifacts()  # no step handed a value through the launcher's disk
            for worker in cluster.workers:
                assert {p.name for p in worker.folder.iterdir()} == WORKER_FOLDER, worker.name
            distributed = {**dataset_fingerprint(cluster.storage_root), "raw_rows": raw_rows(cluster.storage_root)}
        single = reference.result()
    print(f"dataset version: single {single['dataset_version']}, distributed {distributed['dataset_version']}")
    assert distributed == single
