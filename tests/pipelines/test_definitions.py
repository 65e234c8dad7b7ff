import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs
from pipelines.run import job_run_config

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"source_catalog", "synthetic_source", "raw_samples", "class_captions", "native_text_captions",
          "curated_pairs", "curation_log", "webdataset_shards", "data_card", "clip_model", "shuffled_control",
          "benchmark_report"}


def test_definitions_hold_every_stage_in_lineage_order():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert STAGES <= keys
    upstream = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert upstream["raw_samples"] == {"source_catalog", "synthetic_source", "source_files"}
    assert upstream["class_captions"] == {"source_catalog", "raw_samples"}
    assert upstream["native_text_captions"] == {"source_catalog", "raw_samples"}
    assert upstream["curated_pairs"] == {"raw_samples", "class_captions", "native_text_captions"}
    assert upstream["webdataset_shards"] == {"curated_pairs", "source_catalog"}
    assert upstream["data_card"] == {"webdataset_shards", "curated_pairs", "curation_log", "class_captions",
                                     "raw_samples", "source_catalog"}
    assert upstream["clip_model"] == {"webdataset_shards"}
    assert upstream["shuffled_control"] == {"curated_pairs", "clip_model"}
    assert upstream["benchmark_report"] == {"clip_model", "curated_pairs", "shuffled_control"}


def test_every_asset_has_a_description_and_code_version():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.code_version or not node.is_materializable, key  # source_files is only observed


def test_the_three_jobs_cover_every_asset_once_but_the_control_on_request():
    jobs = {name: {k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.executable_asset_keys}
            for name in ("sources_job", "ingest_job", "medpairs_job")}
    assert jobs["ingest_job"] == {"raw_samples"}
    assert sum(len(keys) for keys in jobs.values()) == len(set.union(*jobs.values())) >= len(STAGES) - 1
    assert STAGES - set.union(*jobs.values()) == {"shuffled_control"}
    control = defs.resolve_job_def("shuffled_control_job")
    assert {k.to_user_string() for k in control.asset_layer.executable_asset_keys} == {"shuffled_control",
                                                                                         "benchmark_report"}


def test_the_reports_quality_checks_are_asset_checks():
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys
              if k.asset_key.to_user_string() == "benchmark_report"}
    assert checks == {"trained_above_chance", "trained_beats_untrained", "trained_beats_shuffled_control",
                      "shuffled_control_at_chance"}


def test_dagster_cli_validates_the_workspace():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config_file", sorted((ROOT / "pipelines/configs").glob("*.yaml")), ids=lambda p: p.name)
def test_run_configs_match_the_jobs(config_file):
    config = dg.config_from_files([str(config_file)])
    for name in ("sources_job", "ingest_job", "medpairs_job", "shuffled_control_job"):
        job = defs.resolve_job_def(name)
        dg.validate_run_config(job, job_run_config(job, config))  # raises if it does not fit
