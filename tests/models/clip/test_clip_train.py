"""A real, tiny open_clip_train run on WebDataset shards with several captions per sample, the checkpoint it
writes loaded for zero-shot prediction; the trainer's command (one process or torchrun), the settings of
UniMed's GPU recipe, resume decisions and log parsing across sessions."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from clip_helpers import CLASSES, png, write_shards

from models.clip.model_configs import DEFAULT_MODEL, GPU_MODEL
from models.clip.train import (
    ENTRY_MODULE,
    UNIMED_GPU,
    TrainSettings,
    build_train_argv,
    parse_train_log,
    prepare_run_dir,
    run_training,
    train_command,
    trainer_env,
)
from models.clip.zeroshot import (
    DEFAULT_TEMPLATES,
    class_prompts,
    load_clip,
    zero_shot_predict,
)

TINY = TrainSettings(epochs=1, batch_size=16, warmup=1, workers=1, log_every_n_steps=1, lr=1e-3)


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[str, int]:
    return write_shards(str(tmp_path_factory.mktemp("shards")), n=64, per_shard=32)


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory) -> dict:
    pattern, n = shards
    return run_training(pattern, n, str(tmp_path_factory.mktemp("logs")), "tiny", TINY, timeout=300)


def test_argv_is_understood_by_open_clip_train():
    from open_clip_train.params import parse_args

    settings = TrainSettings(image_size=48, device="cpu", dataset_resampled=True, grad_clip_norm=1.0)
    args = parse_args(build_train_argv("/d/train-{000000..000001}.tar", 123, "/logs", "run", settings, resume=True))
    assert args.train_data == "/d/train-{000000..000001}.tar" and args.train_num_samples == 123
    assert args.dataset_type == "webdataset" and args.model == DEFAULT_MODEL
    assert (args.epochs, args.batch_size, args.lr, args.wd) == (settings.epochs, settings.batch_size, settings.lr, settings.wd)
    assert (args.workers, args.seed, args.precision, args.warmup) == (1, 0, "fp32", settings.warmup)
    assert (args.logs, args.name, args.report_to) == ("/logs", "run", "")
    assert args.force_image_size == [48] and args.device == "cpu"
    assert args.dataset_resampled and args.grad_clip_norm == 1.0
    assert args.save_most_recent and args.resume == "latest"
    assert parse_args(build_train_argv("/d/x.tar", 1, "/logs", "run", settings)).resume is None


def test_unimed_gpu_recipe():
    from open_clip_train.params import parse_args

    args = parse_args(build_train_argv("/d/train-{000000..000009}.tar", 10_000, "/logs", "gpu", UNIMED_GPU))
    assert args.model == GPU_MODEL and args.device == "cuda" and args.precision == "amp"
    assert (args.lr, args.wd, args.lr_scheduler, args.opt) == (5e-4, 0.2, "cosine", "adamw")
    assert args.warmup > 0 and args.epochs == 10


def test_train_command_runs_the_entry_alone_or_under_torchrun():
    from torch.distributed.run import get_args_parser

    argv = ["--model", DEFAULT_MODEL]
    one = train_command(argv, TrainSettings(caption_pick="first", text_tower="/models/bert"))
    assert one == [sys.executable, "-m", ENTRY_MODULE, "--caption-pick", "first", "--text-tower", "/models/bert",
                   "--threads", "2", "--deterministic", "--", *argv]
    two = train_command(argv, TrainSettings(processes=2, threads=None, deterministic=False))
    assert two[:6] == [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone"]
    assert two[6:] == ["-m", ENTRY_MODULE, "--caption-pick", "random", "--", *argv]
    nodes = train_command(argv, TrainSettings(processes=8, nodes=4, rdzv_endpoint="head:29400"))
    launch = get_args_parser().parse_args(nodes[3:])  # what torchrun makes of it
    assert (launch.nnodes, launch.nproc_per_node, launch.rdzv_backend, launch.rdzv_endpoint) == ("4", "8", "c10d", "head:29400")
    assert launch.module and launch.training_script == ENTRY_MODULE
    assert launch.training_script_args[:2] == ["--caption-pick", "random"] and not launch.standalone
    assert launch.training_script_args[-4:] == ["--deterministic", "--", *argv]
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        train_command(argv, TrainSettings(nodes=2))


def test_the_trainers_openmp_threads_sleep_while_they_wait_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert trainer_env()["OMP_WAIT_POLICY"] == "PASSIVE"
    assert trainer_env()["PYTHONPATH"].split(os.pathsep)[0] == str(Path(__file__).resolve().parents[3])
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert trainer_env()["OMP_WAIT_POLICY"] == "ACTIVE"


def test_training_writes_checkpoints_and_a_loss_curve(trained):
    assert trained["epochs_completed"] == 1 and not trained["resumed"]
    assert trained["checkpoint"].endswith("checkpoints/epoch_1.pt")
    assert trained["latest_checkpoint"].endswith("checkpoints/epoch_latest.pt")
    # 64 samples in batches of 16, logged every step
    assert [n for n, _ in trained["loss_curve"]] == [16, 32, 48, 64]
    assert all(np.isfinite(loss) for _, loss in trained["loss_curve"])
    assert trained["seconds"] > 0 and trained["cpu_seconds"] > 0
    # open_clip's AdamW runs torch's fused kernel (train_entry), on the CPU as on a GPU
    log = (Path(trained["run_dir"]) / "out.log").read_text()
    assert "Created FusedAdamW (adamw) optimizer" in log
    assert "image tower ModifiedResNet in channels-last memory format" in log  # the default's convolutions


def test_a_convolutional_image_tower_runs_channels_last_with_the_same_outputs(monkeypatch):
    import open_clip
    import open_clip_train.main as trainer

    from models.clip import train_entry
    from models.clip.model_configs import register_model_configs

    register_model_configs(None)
    monkeypatch.setattr(trainer, "create_model_and_transforms", trainer.create_model_and_transforms)
    train_entry._channels_last_convnets()
    torch.manual_seed(0)
    model = trainer.create_model_and_transforms(DEFAULT_MODEL)[0].eval()
    torch.manual_seed(0)
    plain = open_clip.create_model(DEFAULT_MODEL).eval()
    assert model.visual.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.encode_image(images), plain.encode_image(images), atol=1e-5)
    vit = trainer.create_model_and_transforms("medpairs-tiny-minilm")[0]  # a ViT keeps torch's layout
    assert vit.visual.conv1.weight.is_contiguous()


def test_the_same_seed_data_and_settings_give_the_same_weights(trained, shards, tmp_path):
    """A second run of the module's run, in another folder, agrees with it in every tensor, bit for bit: data
    order, caption draws, augmentation and arithmetic are fixed by the seed and settings."""
    pattern, n = shards
    again = run_training(pattern, n, str(tmp_path), "tiny", TINY, timeout=300)
    a, b = (torch.load(r["checkpoint"], map_location="cpu", weights_only=True)["state_dict"] for r in (trained, again))
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    init = load_clip(DEFAULT_MODEL, None, seed=TINY.seed).model.state_dict()
    assert not torch.equal(init["visual.conv1.weight"], a["visual.conv1.weight"])  # training moved them


def test_checkpoint_loads_for_zero_shot(trained, shards):
    ckpt = torch.load(trained["checkpoint"], map_location="cpu", weights_only=True)
    trained_model = load_clip(DEFAULT_MODEL, trained["checkpoint"])
    for k, v in trained_model.model.state_dict().items():
        assert torch.equal(v, ckpt["state_dict"][k]), k
    untrained = load_clip(DEFAULT_MODEL, None, seed=0)
    assert not torch.equal(untrained.model.visual.conv1.weight, trained_model.model.visual.conv1.weight)

    rng = np.random.default_rng(1)
    images = [png(i % 2, rng) for i in range(10)]
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


# -- resume ---------------------------------------------------------------------------------------------

DATA = {"shards": "/d/train-{000000..000001}.tar", "num_samples": 64}


def _fake_run(tmp_path, settings: TrainSettings) -> None:
    assert prepare_run_dir(str(tmp_path), "run", settings, DATA) is False
    (tmp_path / "run" / "checkpoints").mkdir()
    (tmp_path / "run" / "checkpoints" / "epoch_latest.pt").write_bytes(b"checkpoint")


@pytest.mark.parametrize("later, resumes", [
    (TrainSettings(epochs=3), True),  # more epochs: go on
    (TrainSettings(epochs=3, workers=4, log_every_n_steps=1), True),  # execution details only
    (TrainSettings(epochs=3, lr=5e-4), False),  # another run
    (TrainSettings(epochs=3, batch_size=32), False),
])
def test_a_run_resumes_only_with_the_same_settings_and_data(tmp_path, later, resumes):
    _fake_run(tmp_path, TrainSettings(epochs=1))
    assert prepare_run_dir(str(tmp_path), "run", later, DATA) is resumes
    assert (tmp_path / "run" / "checkpoints").exists() is resumes


def test_other_data_or_no_resume_starts_afresh(tmp_path):
    _fake_run(tmp_path, TINY)
    assert prepare_run_dir(str(tmp_path), "run", TINY, {**DATA, "num_samples": 65}) is False
    _fake_run(tmp_path, TINY)
    assert prepare_run_dir(str(tmp_path), "run", TINY, DATA, resume=False) is False
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert json.loads((tmp_path / "run" / "medpairs_run_key.json").read_text())["data"] == DATA


def _line(t: str, epoch: int, seen: int, per_epoch: int, loss: float, sps: float = 100.0) -> str:
    return (f"2026-01-01,10:00:{t} | INFO | Train Epoch: {epoch} [{seen:>4}/{per_epoch} (50%)] Data (t): 0.310 "
            f"Batch (t): 7.700, {sps}/s, {sps}/s/gpu LR: 0.000100 Logit Scale: 14.286 "
            f"Contrastive_loss: {loss} ({loss}) Loss: {loss} ({loss}) ")


def test_parse_train_log_reads_open_clip_lines():
    text = "\n".join([
        "2026-01-01,10:00:00 | INFO | Running with a single process. Device cpu.",
        "2026-01-01,10:00:00 | INFO | Start epoch 0",
        _line("05", 0, 64, 128, 4.3972, 8.31173),
        _line("09", 1, 128, 128, 3.2567, 142.105),
    ])
    points = parse_train_log(text)
    assert [(p["epoch"], p["samples_seen"], p["loss"], p["time"], p["session"]) for p in points] == [
        (0, 64, 4.3972, 5.0, 0), (1, 256, 3.2567, 9.0, 0)]
    assert points[1]["samples_per_second"] == pytest.approx(142.105) and points[1]["lr"] == pytest.approx(1e-4)


def test_progress_follows_the_trainers_messages():
    from models.clip.train_log import TrainProgress, format_progress

    clock = iter([100.0, 110.0, 130.0])
    progress = TrainProgress(epochs=3, global_batch=64, clock=lambda: next(clock))
    message = lambda line: line.split(" | INFO | ")[1]  # noqa: E731 - what a log handler's record holds
    first = progress.update(message(_line("05", 0, 64, 128, 4.3972)))
    assert (first["epoch"], first["step"], first["steps"], first["seconds_left"]) == (1, 1, 6, None)
    assert progress.update("Start epoch 1") is None
    later = progress.update(message(_line("09", 1, 64, 128, 3.2567)))
    assert (later["epoch"], later["step"], later["loss"]) == (2, 3, 3.2567)
    assert later["samples_per_second"] == 12.8 and later["seconds_left"] == 15  # 128 samples in 10 s, 192 left
    assert format_progress(later) == "epoch 2/3, step 3/6, loss 3.2567, 12.8 samples/s, 0:15 left"
    third = progress.update(message(_line("12", 2, 128, 128, 3.0)))
    assert third["step"] == 6 and third["seconds_left"] == 0


def test_a_resumed_session_replaces_what_the_killed_one_logged_of_its_epochs(tmp_path):
    from models.clip.train_log import summarize_run

    text = "\n".join([
        "2026-01-01,10:00:00 | INFO | Running with a single process. Device cpu.",
        "2026-01-01,10:00:00 | INFO | Start epoch 0",
        _line("10", 0, 100, 100, 4.0),
        "2026-01-01,10:00:10 | INFO | Start epoch 1",
        _line("15", 1, 50, 100, 3.9),  # killed here, epoch 1 never finished
        "2026-01-01,10:00:30 | INFO | Running with a single process. Device cpu.",
        "2026-01-01,10:00:31 | INFO | => resuming checkpoint 'epoch_latest.pt' (epoch 1)",
        "2026-01-01,10:00:32 | INFO | Start epoch 1",
        _line("37", 1, 50, 100, 3.5),
        _line("42", 1, 100, 100, 3.0),
    ])
    points = parse_train_log(text)
    assert [(p["session"], p["samples_seen"], p["loss"]) for p in points] == [(0, 100, 4.0), (1, 150, 3.5), (1, 200, 3.0)]
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "out.log").write_text(text)
    (tmp_path / "run" / "checkpoints" / "epoch_2.pt").write_bytes(b"")
    summary = summarize_run(str(tmp_path), "run")
    assert summary["sessions"] == 2 and summary["epochs_completed"] == 2
    assert summary["samples_trained"] == 100 and summary["train_loop_seconds"] == 10.0
    assert summary["samples_per_second"] == 10.0  # the resumed session's epoch over its 10 s
