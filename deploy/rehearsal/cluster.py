"""A cluster deployment on loopback, all but Kubernetes: PostgreSQL as the instance storage, the storage
root on S3 (moto's server), Redis as Celery's broker and `workers` Celery workers, each in a folder of its
own (working directory, TMPDIR, DAGSTER_HOME); `launch` runs deploy/celery/run.py against it, the way a
deployment's launcher does, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.rehearsal.services import (
    POSTGRES_STORAGE_YAML,
    ROOT,
    Worker,
    celery_workers,
    moto_s3_server,
    postgres_bin,
    postgres_server,
    redis_server,
)

BUCKET = "medpairs-rehearsal"
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# The launcher's instance: runs and events in PostgreSQL; no compute logs (a worker's would be on its own
# disk); the artifact folder is the launcher's own, and stays empty (no step hands a value through it).
LAUNCHER_DAGSTER_YAML = "telemetry:\n  enabled: false\n" + POSTGRES_STORAGE_YAML + """\
compute_logs:
  module: dagster.core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
local_artifact_storage:
  module: dagster.core.storage.root
  class: LocalArtifactStorage
  config:
    base_dir: {base_dir}
concurrency:
  pools:
    default_limit: 1
"""


@dataclass
class Cluster:
    env: dict[str, str]  # the launcher's environment: DAGSTER_HOME, storage root, broker, S3, PostgreSQL
    storage_root: str
    workers: list[Worker]
    launcher_home: Path

    def launch(self, *args: str) -> subprocess.Popen:
        """`python -m deploy.celery.run *args` in the launcher's folder, its output piped."""
        return subprocess.Popen([sys.executable, "-m", "deploy.celery.run", *args], cwd=self.launcher_home,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def artifacts(self) -> list[Path]:
        """Files in the launcher's artifact folder (what an IO manager would have put there)."""
        return [p for p in (self.launcher_home / "artifacts").rglob("*") if p.is_file()]


@contextmanager
def loopback_cluster(folder: Path, workers: int = 2, prefix: str = "run") -> Iterator[Cluster]:
    """Every service started (see the module docstring), the storage root `s3://BUCKET/<prefix>`;
    everything stopped afterwards. Raises ServiceError when PostgreSQL or a service does not start."""
    with ExitStack() as stack:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL's initdb (Debian package postgresql)")
        pg = stack.enter_context(postgres_server(bin_dir))
        endpoint = stack.enter_context(moto_s3_server(BUCKET))
        broker = stack.enter_context(redis_server(folder / "redis"))
        storage_root = f"s3://{BUCKET}/{prefix}"
        shared = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DAGSTER_", "MEDPAIRS_"))}
        shared.update({**S3_ENV, "AWS_ENDPOINT_URL": endpoint, **pg.dagster_env(), "MEDPAIRS_CELERY_BROKER": broker,
                       "MEDPAIRS_STORAGE_ROOT": storage_root, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
        home = folder / "launcher"
        (home / "artifacts").mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(LAUNCHER_DAGSTER_YAML.replace("{base_dir}", str(home / "artifacts")))
        started = stack.enter_context(celery_workers(workers, folder, shared))
        yield Cluster({**shared, "DAGSTER_HOME": str(home)}, storage_root, started, home)


def dataset_fingerprint(storage_root: str) -> dict:
    """What two runs must agree on: the dataset version (sha256 of the curated pairs, as the report's
    provenance gives it), every shard's sha256 and the report's summary numbers; `storage_root` local or
    s3:// (fsspec, configured by the environment)."""
    import hashlib
    import json

    import fsspec
    import pyarrow.parquet as pq

    from assets.shared import layout

    fs, root = fsspec.core.url_to_fs(storage_root)
    with fs.open(f"{root}/{layout.SHARDS}/shards.parquet", "rb") as f:
        shards = sorted((r["shard"], r["sha256"]) for r in pq.read_table(f, columns=["shard", "sha256"]).to_pylist())
    report = json.loads(fs.cat_file(f"{root}/{layout.REPORT}/report.json"))
    return {"dataset_version": hashlib.sha256(fs.cat_file(f"{root}/{layout.CURATED_PAIRS}")).hexdigest(),
            "shards": shards, "report_summary": report["summary"]}
