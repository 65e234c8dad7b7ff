"""A real, tiny open_clip_train run on WebDataset shards, the checkpoint it writes loaded for zero-shot
prediction, and the same entry script run under Dagster Pipes."""

import io
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import torch
from PIL import Image

from assets.export.webdataset import ShardWriter, shard_pattern
from models.clip.model_configs import DEFAULT_MODEL
from models.clip.train import ENTRY_MODULE, REPO_ROOT, TrainSettings, build_train_argv, parse_train_log, run_training
from models.clip.zeroshot import DEFAULT_TEMPLATES, class_prompts, load_clip, zero_shot_predict

CLASSES = ("left lesion", "right lesion")
TINY = TrainSettings(epochs=1, batch_size=16, warmup=1, workers=1, log_every_n_steps=1, lr=1e-3)


def _png(class_index: int, rng: np.random.Generator) -> bytes:
    img = rng.integers(0, 60, (64, 64), dtype=np.uint8)
    x0 = 8 if class_index == 0 else 40
    img[24:40, x0 : x0 + 16] = 230
    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _write_shards(out_dir: str, n: int = 64, per_shard: int = 32) -> tuple[str, int]:
    rng = np.random.default_rng(0)
    with ShardWriter(out_dir, "train", per_shard) as writer:
        for i in range(n):
            c = i % 2
            writer.write({"key": f"{i:06d}", "image": _png(c, rng), "image_ext": "png",
                          "txt": f"An X-ray image showing a {CLASSES[c]}.", "json": {"label": CLASSES[c]}})
    return shard_pattern(out_dir, "train", len(writer.shards)), n


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[str, int]:
    return _write_shards(str(tmp_path_factory.mktemp("shards")))


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory) -> dict:
    pattern, n = shards
    return run_training(pattern, n, str(tmp_path_factory.mktemp("logs")), "tiny", TINY, timeout=300)


def test_argv_is_understood_by_open_clip_train():
    from open_clip_train.params import parse_args

    settings = TrainSettings(image_size=48, device="cpu", dataset_resampled=True, grad_clip_norm=1.0)
    args = parse_args(build_train_argv("/d/train-{000000..000001}.tar", 123, "/logs", "run", settings))
    assert args.train_data == "/d/train-{000000..000001}.tar" and args.train_num_samples == 123
    assert args.dataset_type == "webdataset" and args.model == DEFAULT_MODEL
    assert (args.epochs, args.batch_size, args.lr, args.wd) == (settings.epochs, settings.batch_size, settings.lr, settings.wd)
    assert (args.workers, args.seed, args.precision, args.warmup) == (1, 0, "fp32", settings.warmup)
    assert (args.logs, args.name, args.report_to) == ("/logs", "run", "")
    assert args.force_image_size == [48] and args.device == "cpu"
    assert args.dataset_resampled and args.grad_clip_norm == 1.0


def test_training_writes_a_checkpoint_and_a_loss_curve(trained):
    assert trained["epochs_completed"] == 1
    assert trained["checkpoint"].endswith("checkpoints/epoch_1.pt")
    # 64 samples in batches of 16, logged every step
    assert [n for n, _ in trained["loss_curve"]] == [16, 32, 48, 64]
    assert all(np.isfinite(loss) for _, loss in trained["loss_curve"])
    assert trained["seconds"] > 0 and trained["cpu_seconds"] > 0


def test_checkpoint_loads_for_zero_shot(trained, shards):
    ckpt = torch.load(trained["checkpoint"], map_location="cpu", weights_only=True)
    trained_model = load_clip(DEFAULT_MODEL, trained["checkpoint"])
    for k, v in trained_model.model.state_dict().items():
        assert torch.equal(v, ckpt["state_dict"][k]), k
    untrained = load_clip(DEFAULT_MODEL, None, seed=0)
    assert not torch.equal(untrained.model.visual.conv1.weight, trained_model.model.visual.conv1.weight)

    rng = np.random.default_rng(1)
    images = [_png(i % 2, rng) for i in range(10)]
    for bundle in (trained_model, untrained):
        pred, scores = zero_shot_predict(bundle.model, bundle.preprocess, bundle.tokenizer, images, CLASSES,
                                         DEFAULT_TEMPLATES, modality="xray", batch_size=4, return_scores=True)
        assert pred.shape == (10,) and pred.dtype == np.int64
        assert set(pred.tolist()) <= {0, 1}
        assert scores.shape == (10, 2) and np.all(np.abs(scores) <= 1.0 + 1e-5)
        assert np.array_equal(pred, scores.argmax(axis=1))


def test_module_prefixed_state_dict_loads(trained, tmp_path):
    ckpt = torch.load(trained["checkpoint"], map_location="cpu", weights_only=True)
    wrapped = {"epoch": 1, "state_dict": {f"module.{k}": v for k, v in ckpt["state_dict"].items()}}
    torch.save(wrapped, tmp_path / "ddp.pt")
    bundle = load_clip(DEFAULT_MODEL, str(tmp_path / "ddp.pt"))
    assert torch.equal(bundle.model.logit_scale, ckpt["state_dict"]["logit_scale"])


def test_untrained_baseline_is_seeded():
    a, b, c = (load_clip(DEFAULT_MODEL, None, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.model.visual.conv1.weight, b.model.visual.conv1.weight)
    assert not torch.equal(a.model.visual.conv1.weight, c.model.visual.conv1.weight)


def test_prompts_fill_class_and_modality():
    assert class_prompts("pneumonia", ["a {modality} image showing {c}.", "this is an image of {}."], "xray") == [
        "a X-ray image showing pneumonia.", "this is an image of pneumonia."]


def test_parse_train_log_reads_open_clip_lines():
    text = (
        "2026-01-01,10:00:00 | INFO | Start epoch 0\n"
        "2026-01-01,10:00:05 | INFO | Train Epoch: 0 [ 64/128 (50%)] Data (t): 0.310 Batch (t): 7.700, 8.31173/s, "
        "8.31173/s/gpu LR: 0.000100 Logit Scale: 14.286 Contrastive_loss: 4.3972 (4.3972) Loss: 4.3972 (4.3972)\n"
        "2026-01-01,10:00:09 | INFO | Train Epoch: 1 [128/128 (100%)] Data (t): 0.004 Batch (t): 0.539, 142.105/s, "
        "142.105/s/gpu LR: 0.000030 Logit Scale: 14.239 Contrastive_loss: 3.2567 (3.6588) Loss: 3.2567 (3.6588)\n"
    )
    points = parse_train_log(text)
    assert [(p["epoch"], p["samples_seen"], p["loss"], p["time"]) for p in points] == [
        (0, 64, 4.3972, 5.0), (1, 256, 3.2567, 9.0)]
    assert points[1]["samples_per_second"] == pytest.approx(142.105) and points[1]["lr"] == pytest.approx(3e-5)


def test_existing_run_is_not_overwritten_unless_asked(trained, shards):
    pattern, n = shards
    logs_dir = trained["run_dir"].rsplit("/", 1)[0]
    with pytest.raises(RuntimeError, match="refused"):
        run_training(pattern, n, logs_dir, "tiny", TINY, overwrite=False, timeout=120)
    assert (Path(trained["checkpoint"])).exists()


def test_entry_reports_materialization_through_dagster_pipes(shards, tmp_path):
    pattern, n = shards
    argv = build_train_argv(pattern, n, str(tmp_path / "logs"), "piped", TINY)

    @dg.asset
    def clip_checkpoint(context: dg.AssetExecutionContext, pipes_subprocess_client: dg.PipesSubprocessClient):
        return pipes_subprocess_client.run(
            command=[sys.executable, "-m", ENTRY_MODULE, *argv], context=context,
            env={"PYTHONPATH": str(REPO_ROOT)},
        ).get_materialize_result()

    result = dg.materialize([clip_checkpoint], resources={"pipes_subprocess_client": dg.PipesSubprocessClient()})
    assert result.success
    (mat,) = result.asset_materializations_for_node("clip_checkpoint")
    meta = mat.metadata
    assert meta["checkpoint"].value == str(tmp_path / "logs" / "piped" / "checkpoints" / "epoch_1.pt")
    assert meta["epochs_completed"].value == 1
    assert [p["samples_seen"] for p in meta["loss_curve"].value] == [16, 32, 48, 64]
