"""Declarative automation: after a source is ingested, what follows by itself (captions, then
curation and shards) is requested; training and the report wait for a request."""

from __future__ import annotations

import io

import dagster as dg
import numpy as np
from PIL import Image

from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from pipelines.definitions import build_definitions
from pipelines.environment import load_environment
from pipelines.run import run_pipeline


def _requested(result) -> set[str]:
    return {r.key.to_user_string() for r in result.results if not r.true_subset.is_empty}


def test_ingest_triggers_captions_eagerly_but_not_training(tmp_path):
    for i, label in enumerate(["normal", "effusion"]):
        (tmp_path / "src" / label).mkdir(parents=True)
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (16, 16), dtype=np.uint8)).save(buf, "PNG")
        (tmp_path / "src" / label / "a.png").write_bytes(buf.getvalue())
    (tmp_path / "catalog.yaml").write_text(
        "sources:\n  - {name: auto_src, modality: xray, format: imagefolder, location: src}\n")
    resources = {**load_environment({}).resources, "storage": StorageResource(root=str(tmp_path / "data")),
                 "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))}
    small = {"ops": {"synthetic_source": {"config": {"train_per_class": 1, "test_per_class": 1, "image_size": 16}}}}
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # the first tick
        assert run_pipeline(defs, instance, small, ingest_only=True).success
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert _requested(before) == set()
    # Captions follow the ingest, and curation and shards after them in the same run; training and
    # the report wait for a request (no MEDPAIRS_TRAINING_CRON here).
    assert _requested(after) == {"class_captions", "curated_pairs", "curation_log", "webdataset_shards", "data_card"}
