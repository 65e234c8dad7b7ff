"""End to end: the whole default pipeline on the reduced config, through Dagster as `make demo` runs
it (sources_job, ingest_job per source partition, medpairs_job), with every real part (generator,
ingest, SmolLM2 captions, DuckDB, WebDataset, open_clip_train, zero-shot report)."""

import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from assets.shared.storage import StorageResource
from pipelines.definitions import build_definitions
from pipelines.environment import load_environment
from pipelines.run import run_pipeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def job_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("medpairs") / "data"
    resources = {**load_environment({}).resources, "storage": StorageResource(root=str(data))}
    run_config = dg.config_from_files([str(ROOT / "pipelines/configs/small.yaml")])
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(build_definitions(resources), instance, run_config)
    return outcome, data


def _materializations(outcome) -> dict[str, dict]:
    """Metadata of every materialized asset, by asset name (raw_samples: by partition, too)."""
    out: dict[str, dict] = {}
    for result in outcome.results.values():
        for e in result.get_asset_materialization_events():
            m = e.materialization
            name = m.asset_key.to_user_string() + (f"[{m.partition}]" if m.partition else "")
            out[name] = {k: v.value for k, v in m.metadata.items()}
    return out


def test_pipeline_succeeds_and_every_data_check_passes(job_run):
    outcome, data = job_run
    assert outcome.success and outcome.medpairs_ok
    checks = [c for result in outcome.results.values() for c in result.get_asset_check_evaluations()]
    report_checks = {c.check_name: c.passed for c in checks if c.asset_key.to_user_string() == "benchmark_report"}
    data_checks = [c for c in checks if c.asset_key.to_user_string() != "benchmark_report"]
    assert {c.check_name for c in data_checks} >= {"counts_balance", "every_class_has_captions",
                                                   "no_evaluation_image_in_training", "unique_training_pixels"}
    assert all(c.passed for c in data_checks), [c for c in data_checks if not c.passed]
    # The report's quality checks ran with it, as in its files (no control trained, so not its checks); a
    # two-epoch run need not pass them.
    report = json.loads((data / "report/report.json").read_text())
    assert report_checks == {name: c["passed"] for name, c in report["checks"].items()}
    assert set(report_checks) == {"trained_above_chance", "trained_beats_untrained"}


def test_counts_carry_through_every_stage(job_run):
    outcome, data = job_run
    by_key = _materializations(outcome)
    # 6 sources (one ingest partition each), 22 classes, 16 train + 8 test images per class in small.yaml
    assert by_key["synthetic_source"]["num_images"] == 22 * 24
    ingested = [meta for name, meta in by_key.items() if name.startswith("raw_samples[")]
    assert len(ingested) == 6
    assert sum(m["rows_read"] for m in ingested) == 22 * 24 == sum(m["ingested"] for m in ingested)
    assert by_key["curated_pairs"]["samples_in"] == by_key["curated_pairs"]["kept"] + by_key["curation_log"]["dropped"]
    train_pairs = pq.read_table(data / "curated/curated_pairs.parquet").to_pandas().query("split == 'train'")
    assert by_key["webdataset_shards"]["num_samples"] == len(train_pairs)

    samples = list(wds.WebDataset(by_key["webdataset_shards"]["shards"], shardshuffle=False))
    assert len(samples) == len(train_pairs)
    meta = json.loads(samples[0]["json"])
    assert samples[0]["txt"].decode().split("\n") == meta["captions"]  # every caption; training draws one
    # Classification sources only: no image-text sample, every pair captioned by the LLM or templates.
    assert by_key["native_text_captions"]["samples"] == 0
    assert meta["caption_origin"] in ("llm", "template")
    assert sum(by_key["webdataset_shards"]["by_caption_origin"].values()) == len(train_pairs)
    # The data card counts every drawn image once, and the captions of every exported sample by origin.
    card = json.loads((data / "shards/data_card.json").read_text())
    assert card["balanced"] and card["totals"]["read"] == 22 * 24 and len(card["rows"]) == 6
    assert card["totals"]["exported_pairs"] == card["totals"]["samples"] == len(train_pairs)
    assert all(set(r["caption_origins"]) <= {"llm", "template"} and r["caption_origins"] for r in card["rows"])


def test_model_is_trained_and_report_written(job_run):
    outcome, data = job_run
    report = json.loads((data / "report/report.json").read_text())
    assert set(report["summary"]) == {"trained", "untrained"}
    assert {r["source"] for r in report["results"]["trained"]} == {
        "synthetic_xray", "synthetic_ct", "synthetic_mri", "synthetic_ultrasound",
        "synthetic_pathology", "synthetic_fundus"}
    assert report["synthetic"] is True
    assert "synthetic" in (data / "report/report.md").read_text().lower()
    meta = _materializations(outcome)["clip_model"]
    assert Path(meta["checkpoint"]).exists()
    assert meta["final_loss"] < meta["first_loss"]
