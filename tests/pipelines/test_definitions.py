import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs
from pipelines.run import job_run_config

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"source_catalog", "synthetic_source", "raw_samples", "class_captions", "curated_pairs", "curation_log",
          "webdataset_shards", "clip_model", "benchmark_report"}


def test_definitions_hold_every_stage_in_lineage_order():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert STAGES <= keys
    upstream = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert upstream["raw_samples"] == {"source_catalog", "synthetic_source", "source_files"}
    assert upstream["class_captions"] == {"source_catalog", "raw_samples"}
    assert upstream["curated_pairs"] == {"raw_samples", "class_captions"}
    assert upstream["webdataset_shards"] == {"curated_pairs"}
    assert upstream["clip_model"] == {"webdataset_shards"}
    assert upstream["benchmark_report"] == {"clip_model", "curated_pairs"}


def test_every_asset_has_a_description_and_code_version():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.code_version or not node.is_materializable, key  # source_files is only observed


def test_the_three_jobs_cover_every_asset_once():
    jobs = {name: {k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.executable_asset_keys}
            for name in ("sources_job", "ingest_job", "medpairs_job")}
    assert jobs["ingest_job"] == {"raw_samples"}
    assert sum(len(keys) for keys in jobs.values()) == len(set.union(*jobs.values())) >= len(STAGES)
    assert STAGES <= set.union(*jobs.values())


def test_dagster_cli_validates_the_workspace():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config_file", sorted((ROOT / "pipelines/configs").glob("*.yaml")), ids=lambda p: p.name)
def test_run_configs_match_the_jobs(config_file):
    config = dg.config_from_files([str(config_file)])
    for name in ("sources_job", "ingest_job", "medpairs_job"):
        job = defs.resolve_job_def(name)
        dg.validate_run_config(job, job_run_config(job, config))  # raises if it does not fit
