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
    assert _requested(after) == {"class_captions", "native_text_captions", "curated_pairs", "curation_log",
                                  "webdataset_shards", "data_card"}


def test_a_missing_source_ingested_as_empty_does_not_hold_back_captions(tmp_path):
    (tmp_path / "src" / "normal").mkdir(parents=True)
    Image.new("L", (16, 16), 80).save(tmp_path / "src" / "normal" / "a.png")
    (tmp_path / "catalog.yaml").write_text(
        "sources:\n  - {name: here, modality: xray, format: imagefolder, location: src}\n"
        "  - {name: gone, modality: xray, format: imagefolder, location: not-downloaded}\n")
    resources = {**load_environment({}).resources, "storage": StorageResource(root=str(tmp_path / "data")),
                 "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))}
    small = {"ops": {"synthetic_source": {"config": {"train_per_class": 1, "test_per_class": 1, "image_size": 16}}}}
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert run_pipeline(defs, instance, small, only_sources=["here"], ingest_only=True).success
        # Eager waits for every partition: while `gone` has none (as when its ingest failed), nothing follows.
        waiting = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert list(run_pipeline(defs, instance, small, only_sources=["gone"], ingest_only=True).missing_sources) == [
            "gone"]
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=waiting.cursor)
    assert "class_captions" not in _requested(waiting)
    assert "class_captions" in _requested(after)
