"""The command-line pipeline through Dagster: one ingest partition per catalog source; a source whose
location is missing is ingested as empty and named, and the others go on, downstream too."""

from __future__ import annotations

import io
import shutil

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assets.captions.defs import native_text_captions
from assets.captions.resource import CaptionBackendResource
from assets.curation.defs import curation
from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from pipelines.definitions import build_definitions
from pipelines.environment import load_environment
from pipelines.run import job_run_config, run_pipeline

SMALL_SYNTHETIC = {"ops": {"synthetic_source": {"config": {"train_per_class": 2, "test_per_class": 1,
                                                           "image_size": 32}}}}
CATALOG = """\
sources:
  - {{name: synthetic, format: synthetic}}
  - name: chest_folder
    modality: xray
    format: imagefolder
    location: chest
    classes: [normal, pneumonia]
    split: {{ratio: {{train: 0.5, test: 0.5}}, seed: 1}}
  - name: lost_source
    modality: ct
    format: imagefolder
    location: {missing}
"""


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 24), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def project(tmp_path):
    for i, label in enumerate(["normal", "normal", "pneumonia", "pneumonia"]):
        (tmp_path / "chest" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "chest" / label / f"{i}.png").write_bytes(_png(i))
    (tmp_path / "chest" / "pneumonia" / "truncated.png").write_bytes(_png(9)[:300])
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG.format(missing=tmp_path / "not-here"))
    resources = {**load_environment({}).resources, "storage": StorageResource(root=str(tmp_path / "data")),
                 "catalog": SourceCatalogResource(path=str(catalog))}
    with dg.instance_for_test() as instance:
        yield build_definitions(resources), instance, tmp_path


def test_each_source_is_a_partition_and_a_missing_one_is_ingested_empty_and_named(project):
    defs, instance, tmp_path = project
    outcome = run_pipeline(defs, instance, SMALL_SYNTHETIC, ingest_only=True)
    assert outcome.sources_ok
    assert sorted(instance.get_dynamic_partitions("sources")) == sorted(
        ["synthetic_xray", "synthetic_ct", "synthetic_mri", "synthetic_ultrasound", "synthetic_pathology",
         "synthetic_fundus", "chest_folder", "lost_source"])
    assert not outcome.failed_sources and list(outcome.missing_sources) == ["lost_source"]
    assert outcome.missing_sources["lost_source"] == f"source 'lost_source': location '{tmp_path}/not-here' does not exist"
    assert len(outcome.ingested) == 7 and "lost_source" not in outcome.ingested and outcome.success
    lost = outcome.results["ingest_job[lost_source]"]
    assert (_meta(outcome, "lost_source")["rows_read"], _meta(outcome, "lost_source")["ingested"]) == (0, 0)
    found = {c.check_name: c for c in lost.get_asset_check_evaluations()}["source_found"]
    assert not found.passed and found.severity == dg.AssetCheckSeverity.WARN
    assert pq.read_table(tmp_path / "data/raw_samples/samples/lost_source").num_rows == 0

    chest = pq.read_table(tmp_path / "data/raw_samples/samples/chest_folder").to_pylist()
    quarantine = pq.read_table(tmp_path / "data/raw_samples/quarantine/chest_folder").to_pylist()
    assert len(chest) == 4
    assert [(q["orig_path"], q["reason"]) for q in quarantine] == [("pneumonia/truncated.png", "corrupt")]
    assert {r["source"] for r in chest} == {"chest_folder"} and {r["split"] for r in chest} <= {"train", "test"}
    ct = pq.read_table(tmp_path / "data/raw_samples/samples/synthetic_ct").to_pylist()
    assert len(ct) == 4 * 3 and {r["label"] for r in ct} == {"normal", "cyst", "stone", "tumor"}

    checks = outcome.results["ingest_job[chest_folder]"].get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("counts_balance", True), ("no_identifiers", True),
                                                          ("source_found", True)]
    meta = outcome.results["ingest_job[chest_folder]"].get_asset_materialization_events()[0].materialization.metadata
    assert (meta["rows_read"].value, meta["ingested"].value, meta["quarantined"].value) == (5, 4, 1)


def test_curation_goes_on_with_the_sources_found_and_a_missing_source_is_ingested_once_it_is_there(project):
    defs, instance, tmp_path = project
    assert not run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=["lost_source"]).success  # nothing found
    outcome = run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=["chest_folder", "lost_source"],
                           ingest_only=True)
    assert outcome.success and outcome.ingested == ["chest_folder"] and list(outcome.missing_sources) == ["lost_source"]
    storage = StorageResource(root=str(tmp_path / "data"))
    pq.write_table(pa.Table.from_pylist([{"source": "chest_folder", "label": label, "status": "valid", "origin": "llm",
                                          "caption": f"A chest X-ray, {label}."} for label in ("normal", "pneumonia")]),
                   storage.path(layout.CLASS_CAPTIONS))
    curated = dg.materialize([native_text_captions, curation], instance=instance, resources={
        "storage": storage, "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml")),
        "caption_llm": CaptionBackendResource(), "pipes_subprocess_client": dg.PipesSubprocessClient()})
    assert all(c.passed for c in curated.get_asset_check_evaluations())
    assert curated.asset_materializations_for_node("curation")[0].metadata["samples_in"].value == 4

    for i, label in enumerate(["normal", "normal", "pneumonia"]):
        (tmp_path / "not-here" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "not-here" / label / f"{i}.png").write_bytes(_png(20 + i))
    again = run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=["lost_source"], ingest_only=True)
    assert again.ingested == ["lost_source"] and not again.missing_sources
    assert (_meta(again, "lost_source")["unchanged"], _meta(again, "lost_source")["ingested"]) == (False, 3)

    shutil.rmtree(tmp_path / "not-here")  # gone again (an unmounted drive): its last ingest is kept, and said so
    gone = run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=["lost_source"], ingest_only=True)
    assert "it was ingested before (3 samples): that ingest is kept" in gone.failed_sources["lost_source"]
    assert pq.read_table(storage.path(layout.RAW_SAMPLES, "lost_source")).num_rows == 3


def test_a_source_removed_from_the_catalog_loses_its_partition(project):
    defs, instance, tmp_path = project
    run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=["chest_folder"], ingest_only=True)
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(missing="").split("  - name: lost_source")[0])
    outcome = run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=["chest_folder"], ingest_only=True)
    assert "lost_source" not in instance.get_dynamic_partitions("sources")
    assert outcome.success and outcome.ingested == ["chest_folder"]


def test_one_run_config_is_split_between_the_jobs(project):
    defs, _, _ = project
    config = {"ops": {"synthetic_source": {"config": {"seed": 3}}, "raw_samples": {"config": {"workers": 2}},
                      "clip_model": {"config": {"epochs": 1}}, "curation": {"config": {"min_side": 16}}}}
    assert job_run_config(defs.resolve_job_def("sources_job"), config) == {
        "ops": {"synthetic_source": {"config": {"seed": 3}}}}
    assert job_run_config(defs.resolve_job_def("ingest_job"), config) == {
        "ops": {"raw_samples": {"config": {"workers": 2}}}}
    assert job_run_config(defs.resolve_job_def("medpairs_job"), config) == {
        "ops": {"clip_model": {"config": {"epochs": 1}}, "curation": {"config": {"min_side": 16}}}}  # a multi-asset's op


def test_a_rerun_with_nothing_changed_ingests_nothing_and_a_changed_source_alone_is_redone(project):
    defs, instance, tmp_path = project
    sources = ["synthetic_ct", "chest_folder"]
    first = run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=sources, ingest_only=True)
    parts = sorted((tmp_path / "data/raw_samples/samples").rglob("part-*.parquet"))
    again = run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=sources, ingest_only=True)
    assert first.success and again.success
    assert [_meta(again, s)["unchanged"] for s in sources] == [True, True]
    assert sorted((tmp_path / "data/raw_samples/samples").rglob("part-*.parquet")) == parts  # untouched
    assert again.results["sources_job"].get_asset_materialization_events()[1].materialization.metadata[
        "unchanged"].value is True  # synthetic_source left its files alone
    (tmp_path / "chest" / "normal" / "new.png").write_bytes(_png(42))
    third = run_pipeline(defs, instance, SMALL_SYNTHETIC, only_sources=sources, ingest_only=True)
    assert [_meta(third, s)["unchanged"] for s in sources] == [True, False]
    assert _meta(third, "chest_folder")["ingested"] == 5


def _meta(outcome, source: str) -> dict:
    event = outcome.results[f"ingest_job[{source}]"].get_asset_materialization_events()[0]
    return {k: v.value for k, v in event.materialization.metadata.items()}
