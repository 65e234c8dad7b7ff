"""The UniMed recipe (pipelines/recipes/unimed.yaml) run end to end as a user runs it: `python -m pipelines.run`
with MEDPAIRS_CATALOG and MEDPAIRS_DATA_ROOT set, over a `$DATA` of every family's miniature but Quilt-1M's and
24 of FLAIR's 26 dataframes (and none of the evaluation sets of the catalog it includes): each missing source
is named and the rest goes on through captions, curation, shards, training and the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets.sources.catalog_yaml import load_catalog
from tests.pipelines.pipeline_process import ROOT
from tests.pipelines.recipes import miniatures

CATALOG = str(ROOT / "pipelines" / "recipes" / "unimed.yaml")
# The least that still runs every stage: one caption per class in one round, one epoch; the miniatures' 24-pixel
# images kept (curation's default min_side is 28).
TINY_CONFIG = """\
ops:
  class_captions: {config: {captions_per_class: 1, max_rounds: 1}}
  curation: {config: {min_side: 16}}
  webdataset_shards: {config: {samples_per_shard: 20}}
  clip_model: {config: {epochs: 1, batch_size: 8}}
  benchmark_report: {config: {bootstrap_resamples: 20, screenshot: false}}
"""
# Per present source: rows read, ingested, and quarantined by reason (as each family's own test finds them).
INGEST = {
    "chexpert": (5, 4, {"excluded_by_filter": 1}),
    "chexpert_valid": (2, 1, {"excluded_by_filter": 1}),
    "chestxray14": (7, 5, {"missing_file": 1, "not_in_split_list": 1}),
    "radimagenet": (8, 6, {"unknown_label": 1, "unsupported_extension": 1}),
    "flair_idrid": (4, 3, {"unknown_label": 1}),
    "flair_hrf": (2, 1, {"missing_label": 1}),
    "mimic_cxr": (7, 3, {"excluded_by_filter": 2, "missing_caption": 1, "unmatched_join": 1}),
    "openi": (5, 4, {"missing_image": 1}),
    "rocov2": (3, 3, {}),
    "rocov2_test": (1, 1, {}),
    "pmc_oa": (2, 2, {}),
    "llava_med_alignment": (2, 2, {}),
    "llava_med_instruct": (2, 2, {}),
}
# Not train: chexpert_valid's and rocov2_test's every sample, chestxray14's two of test_list.txt, MIMIC's validate.
NOT_TRAIN = {"chexpert_valid": ("test", 1), "rocov2_test": ("test", 1), "chestxray14": ("test", 2),
             "mimic_cxr": ("val", 1)}


@pytest.mark.slow
def test_the_recipe_over_the_miniatures_names_each_missing_source_and_builds_the_rest(tmp_path, monkeypatch):
    data, home = tmp_path / "DATA", tmp_path / "home"
    miniatures.write_all(data, without=("quilt_1m",))
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\nconcurrency: {pools: {default_limit: 1}}\n")
    (home / "run.yaml").write_text(TINY_CONFIG)
    env = dict(os.environ, DAGSTER_HOME=str(home), MEDPAIRS_STORAGE_ROOT=str(home / "data"),
               MEDPAIRS_CATALOG=CATALOG, MEDPAIRS_DATA_ROOT=str(data), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    run = subprocess.run([sys.executable, "-m", "pipelines.run", "-c", str(home / "run.yaml")], check=False,
                         cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
    out = run.stdout
    assert run.returncode == 0, out[-5000:]
    assert "medpairs_job: ok" in out

    monkeypatch.setenv("MEDPAIRS_DATA_ROOT", str(data))
    names = [s.name for s in load_catalog(CATALOG)]
    missing = [n for n in names if n not in INGEST]
    # 24 FLAIR dataframes, Quilt-1M, and the 22 evaluation sets of the catalog the recipe includes
    assert len(missing) == 25 + 22 and {"quilt_1m", "acl_mri", "odir_retina"} <= set(missing)
    for name in missing:
        assert f"MISSING source {name} (ingested as empty): source '{name}': location " in out
    assert f"ingested: {', '.join(n for n in names if n in INGEST)}" in out

    store = home / "data"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for name, (rows_read, ingested, reasons) in INGEST.items():
            (record,) = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("raw_samples"), asset_partitions=[name]), limit=1).records
            meta = record.asset_materialization.metadata
            assert (meta["rows_read"].value, meta["ingested"].value) == (rows_read, ingested), name
            quarantine = pq.read_table(store / "raw_samples" / "quarantine" / name).column("reason").to_pylist()
            assert Counter(quarantine) == reasons, name

    pairs = pq.read_table(store / "curated" / "curated_pairs.parquet").to_pylist()
    assert Counter(p["source"] for p in pairs) == {name: ingested for name, (_, ingested, _) in INGEST.items()}
    not_train = Counter((p["source"], p["split"]) for p in pairs if p["split"] != "train")
    assert not_train == {(source, split): n for source, (split, n) in NOT_TRAIN.items()}
    train = [p for p in pairs if p["split"] == "train"]
    assert {p["source"] for p in train} == set(INGEST) - {"chexpert_valid", "rocov2_test"}
    assert all(p["captions"] for p in train)  # a class caption or the sample's own text, each
    # MIMIC-CXR's and OpenI's reports cleaned (text: report), the figure captions as they are
    origins = {(p["source"], p["caption_origin"]) for p in train if p["source"] in ("mimic_cxr", "openi", "rocov2")}
    assert origins == {("mimic_cxr", "cleaned"), ("openi", "cleaned"), ("rocov2", "native")}
    assert not any("FINAL REPORT" in c or "INDICATION" in c for p in train for c in p["captions"])

    manifest = pq.read_table(store / "shards" / "manifest.parquet").to_pylist()
    assert len(manifest) == len(train) and sorted((store / "shards").glob("train-*.tar"))
    report = json.loads((store / "report" / "report.json").read_text())
    assert (store / "report" / "report.html").exists() and (store / "report" / "report.md").exists()
    # Every test image accounted for: chestxray14's multi-label one is counted as not scored, in the Markdown too.
    scored = {r["source"]: (r["num_samples"], r["skipped_samples"]) for r in report["results"]["trained"]}
    assert scored == {"chexpert_valid": (1, 0), "chestxray14": (1, 1)}
    assert "| chestxray14 | xray | 15 | 1 (+1 not scored: no single class) |" in (store / "report" / "report.md").read_text()
    assert {r["source"] for r in report["retrieval"]["trained"]} == {"rocov2_test"}
