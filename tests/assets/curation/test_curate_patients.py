"""A patient on both sides of a split the data states: the training images of a patient with a test
image are dropped (evaluation_patient), through the real CSV reader, ingest and curation, and the
blocking check reads the patients from the raw samples. The images all differ, so no pixel or pHash
rule would catch them."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assets.curation.curate import curate, training_patients_with_evaluation
from assets.ingest.ingest import ingest_rows
from assets.sources.catalog_yaml import load_catalog
from assets.sources.readers import read_source

# CheXpert-style paths: patient/study/view. patient00001 has a test image and two training images.
ROWS = [("patient00001/study1/view1_frontal.png", "pneumonia", "train"),
        ("patient00001/study2/view1_frontal.png", "normal", "train"),
        ("patient00001/study3/view1_frontal.png", "pneumonia", "test"),
        ("patient00002/study1/view1_frontal.png", "normal", "train"),
        ("patient00003/study1/view1_frontal.png", "normal", "test")]


def _source(tmp_path, privacy: str):
    root = tmp_path / "chexpert"
    rng = np.random.default_rng(0)
    for path, _, _ in ROWS:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(root / path)
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "split"), *ROWS])
    (tmp_path / "catalog.yaml").write_text(f"""\
sources:
  - name: cxr
    modality: xray
    format: csv
    location: {root / 'labels.csv'}
    privacy: {privacy}
    classes: [normal, pneumonia]
    split: {{column: split, group: {{path: 'patient[0-9]+'}}}}
""")
    (spec,) = load_catalog(str(tmp_path / "catalog.yaml"))
    return spec


@pytest.mark.parametrize("privacy", ["public", "clinical"])
def test_training_images_of_a_test_patient_are_dropped(tmp_path, privacy, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_PRIVACY_SALT", "test-salt")
    src = read_source(_source(tmp_path, privacy))
    raw = str(tmp_path / "raw.parquet")
    assert ingest_rows(src.rows(), root=src.root, out_path=raw, quarantine_path=str(tmp_path / "q.parquet"))[
        "ingested"] == 5
    groups = pq.read_table(raw, columns=["group_id"])["group_id"].to_pylist()
    assert len(set(groups)) == 3 and not any("patient" in g for g in groups)  # hashes, never the id itself
    captions = str(tmp_path / "captions.parquet")
    pq.write_table(pa.Table.from_pylist([{"source": "cxr", "label": label, "caption": f"A chest X-ray, {label}.",
                                          "status": "valid", "origin": "llm"} for label in ("normal", "pneumonia")]),
                   captions)
    pairs, log = str(tmp_path / "pairs.parquet"), str(tmp_path / "log.parquet")
    stats = curate(raw, captions, pairs, log)
    dropped = pq.read_table(log).to_pylist()
    paths = sorted(r["orig_path"] for r in dropped if r["reason"] == "evaluation_patient")
    if privacy == "public":
        assert paths == ["patient00001/study1/view1_frontal.png", "patient00001/study2/view1_frontal.png"]
    else:  # keyed ids: neither the patient nor the path is shown
        assert len(paths) == 2 and not any("patient" in p for p in paths)
    assert stats["dropped_by_reason"] == {"evaluation_patient": 2} and stats["kept"] == 3
    assert stats["decontamination"] == {"cxr": {"evaluation_patient": 2}}
    assert training_patients_with_evaluation(pairs, raw) == 0


def test_the_check_finds_a_test_patient_in_training(tmp_path):
    src = read_source(_source(tmp_path, "public"))
    raw = str(tmp_path / "raw.parquet")
    ingest_rows(src.rows(), root=src.root, out_path=raw, quarantine_path=str(tmp_path / "q.parquet"))
    # Pairs as a curation without the rule would write them: every sample kept.
    pairs = str(tmp_path / "pairs.parquet")
    pq.write_table(pq.read_table(raw, columns=["sample_id", "split", "pixel_sha256", "phash"]), pairs)
    assert training_patients_with_evaluation(pairs, raw) == 2
