"""Instance storage in PostgreSQL, as the README documents it: a dagster.yaml with `storage: postgres`,
and `python -m pipelines.run` (what `make demo` runs: sources_job, ingest_job per partition,
medpairs_job) on a tiny project against a real server on loopback. Runs, their events and the
dynamic `sources` partitions must then be in Postgres' own tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from ops_helpers import ROOT, TELEMETRY_OFF, TINY_SYNTHETIC

from deploy.rehearsal.services import POSTGRES_STORAGE_YAML
from pipelines.definitions import defs

# The dagster.yaml of the README ("Instance storage"), with the gpu pool.
POSTGRES_DAGSTER_YAML = TELEMETRY_OFF + POSTGRES_STORAGE_YAML + """\
concurrency:
  pools:
    default_limit: 1
"""
# medpairs_job cut to the least that still runs every stage for real: SmolLM2 writes 2 captions
# per class, one training epoch.
TINY_MEDPAIRS = {"ops": {**TINY_SYNTHETIC["ops"],
                         "class_captions": {"config": {"captions_per_class": 2, "max_rounds": 1}},
                         "clip_model": {"config": {"epochs": 1, "batch_size": 4}}}}


@pytest.mark.slow
def test_default_pipeline_records_its_runs_and_partitions_in_postgres(postgres_server, tiny_project, tmp_path):
    home = Path(tiny_project["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text(POSTGRES_DAGSTER_YAML)
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps(TINY_MEDPAIRS))  # JSON is YAML
    pg = postgres_server
    env = {**tiny_project, **pg.dagster_env()}

    done = subprocess.run([sys.executable, "-m", "pipelines.run", "-c", str(config)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "medpairs_job: ok" in done.stdout
    assert not list(home.glob("**/*.db")), f"sqlite files in {home}: the postgres storage was not used"

    with psycopg2.connect(pg.url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pipeline_name, status, partition FROM runs ORDER BY create_timestamp")
        runs = cursor.fetchall()
        cursor.execute("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'sources'")
        partitions = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        materialized = {dg.AssetKey.from_db_string(row[0]) for row in cursor.fetchall()}
    assert runs == [("sources_job", "SUCCESS", None), ("ingest_job", "SUCCESS", "chest_folder"),
                    ("medpairs_job", "SUCCESS", None)]
    assert partitions == ["chest_folder"]
    graph = defs.resolve_asset_graph()
    on_request = {dg.AssetKey("shuffled_control")}  # shuffled_control_job's, not the default run's
    assert materialized == {key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable} - on_request
