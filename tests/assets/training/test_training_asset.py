"""The export and training assets through Dagster: shards from curated pairs, a CLIP trained on them via
Pipes with its loss curve and throughput in the metadata, and a second materialization with more epochs
resuming from the first one's checkpoint (the shards kept as they were); another recipe trains afresh, and
an unchanged one has nothing left to train; the shuffled-caption control trained through the same Pipes path
with the trained run's settings."""

import io
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assets.export.defs import webdataset_shards
from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from assets.training.defs import clip_model, shuffled_control
from assets.training.runs import read_run_pointer


def _png(label: int, rng: np.random.Generator) -> bytes:
    img = rng.integers(0, 60, (32, 32), dtype=np.uint8)
    img[12:20, 4 + 20 * label : 12 + 20 * label] = 230
    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def storage(tmp_path) -> StorageResource:
    rng = np.random.default_rng(0)
    labels = ("left lesion", "right lesion")
    rows = [{"sample_id": f"s{i:03d}", "source": "toy", "modality": "xray", "label": labels[i % 2], "split": "train",
             "image": {"bytes": _png(i % 2, rng), "path": f"{i}.png"}, "image_format": "png",
             "captions": [f"An X-ray showing a {labels[i % 2]}.", f"A {labels[i % 2]} on a chest X-ray."]}
            for i in range(32)]
    resource = StorageResource(root=str(tmp_path / "data"))
    pq.write_table(pa.Table.from_pylist(rows), resource.path(layout.CURATED_PAIRS))
    # The export reads each source's mixture from the catalog (none here: each pair once).
    (tmp_path / "catalog.yaml").write_text("sources:\n  - {name: toy, modality: xray, format: imagefolder, location: .}\n")
    return resource


def _materialize(storage: StorageResource, assets=(webdataset_shards, clip_model), instance=None, **training) -> dict:
    config = {"ops": {
        "webdataset_shards": {"config": {"samples_per_shard": 16}},
        "clip_model": {"config": {"epochs": 1, "batch_size": 16, "warmup": 1, "image_size": 32, **training}},
        "shuffled_control": {"config": {"samples_per_shard": 16}},
    }}
    config["ops"] = {name: c for name, c in config["ops"].items() if name in {a.op.name for a in assets}}
    result = dg.materialize(list(assets), run_config=config, instance=instance,
                            resources={"storage": storage, "pipes_subprocess_client": dg.PipesSubprocessClient(),
                                       "catalog": SourceCatalogResource(path=f"{storage.root}/../catalog.yaml")})
    assert result.success
    materializations = [e.materialization for e in result.get_asset_materialization_events()]
    return {m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()} for m in materializations}


def test_training_resumes_from_its_last_checkpoint(storage):
    instance = dg.DagsterInstance.ephemeral()
    first = _materialize(storage, instance=instance)
    progress = [r.user_message for r in instance.all_logs(instance.get_runs()[0].run_id)
                if r.user_message.startswith("epoch ")]
    assert [line.split(", loss")[0] for line in progress] == ["epoch 1/1, step 1/2", "epoch 1/1, step 2/2"]
    assert progress[-1].endswith("0:00 left") and "samples/s" in progress[-1]
    shards, model = first["webdataset_shards"], first["clip_model"]
    assert (shards["num_samples"], shards["num_shards"], shards["shards_written"]) == (32, 2, 2)
    assert model["epochs_completed"] == 1 and not model["resumed"]
    assert model["checkpoint"].endswith("checkpoints/epoch_1.pt")
    assert [p["samples_seen"] for p in model["loss_curve"]] == [16, 32]
    assert model["samples_per_second"] is None or model["samples_per_second"] > 0

    second = _materialize(storage, epochs=2)
    assert second["webdataset_shards"]["shards_reused"] == 2
    model = second["clip_model"]
    assert model["resumed"] and model["epochs_completed"] == 2
    assert model["checkpoint"].endswith("checkpoints/epoch_2.pt")
    assert [p["samples_seen"] for p in model["loss_curve"]] == [16, 32, 48, 64]  # epoch 0 from the first run
    log = Path(storage.path(layout.TRAINING, layout.TRAINING_RUN, "out.log"))
    assert "=> resuming checkpoint" in log.read_text() and "(epoch 1)" in log.read_text()
    assert read_run_pointer(storage.path(layout.TRAINING), layout.TRAINING_RUN)["checkpoint"] == model["checkpoint"]

    third = _materialize(storage, epochs=2, lr=5e-4)  # another recipe: trained afresh
    assert not third["clip_model"]["resumed"] and third["clip_model"]["epochs_completed"] == 2
    assert [p["samples_seen"] for p in third["clip_model"]["loss_curve"]] == [16, 32, 48, 64]

    trained_log = log.read_text()
    fourth = _materialize(storage, epochs=2, lr=5e-4)  # nothing changed: the trainer is not even started
    assert fourth["clip_model"]["unchanged"] and not fourth["clip_model"]["resumed"]
    assert fourth["clip_model"]["checkpoint"] == third["clip_model"]["checkpoint"]
    assert fourth["clip_model"]["loss_curve"] == third["clip_model"]["loss_curve"]
    assert log.read_text() == trained_log


def test_shuffled_control_trains_through_pipes_with_the_trained_runs_settings(storage):
    done = _materialize(storage, assets=(webdataset_shards, clip_model, shuffled_control))
    control, trained = done["shuffled_control"], done["clip_model"]
    assert control["shuffled_captions"] == 32 and control["unchanged_pairs"] < 32
    # the trainer's metrics came back through Pipes, as clip_model's do
    assert control["epochs_completed"] == 1 and [p["samples_seen"] for p in control["loss_curve"]] == [16, 32]
    assert control["checkpoint"] == storage.path(layout.TRAINING, layout.SHUFFLED_CONTROL_RUN,
                                                 "checkpoints", "epoch_1.pt") != trained["checkpoint"]
    logs = storage.path(layout.TRAINING)
    pointer = read_run_pointer(logs, layout.SHUFFLED_CONTROL_RUN)
    assert pointer["checkpoint"] == control["checkpoint"]
    assert pointer["settings"] == read_run_pointer(logs, layout.TRAINING_RUN)["settings"]
    shuffled = pq.read_table(storage.path(layout.SHUFFLED_CONTROL_PAIRS))
    original = pq.read_table(storage.path(layout.CURATED_PAIRS))
    assert shuffled.column("sample_id").equals(original.column("sample_id"))
    assert shuffled.column("captions").to_pylist() != original.column("captions").to_pylist()
