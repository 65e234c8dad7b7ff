"""The multi-process path: two training processes under torchrun on CPU (gloo), launched through Dagster
Pipes as the clip_model asset launches them: the same trainer code multi-GPU and multi-node runs use."""

import math
import os

import dagster as dg
import torch
from clip_helpers import write_shards

from models.clip.model_configs import DEFAULT_MODEL
from models.clip.train import (
    REPO_ROOT,
    TrainSettings,
    build_train_argv,
    prepare_run_dir,
    train_command,
)
from models.clip.zeroshot import load_clip


def test_two_processes_with_gloo_train_one_model_and_report_once(tmp_path):
    pattern, n = write_shards(str(tmp_path / "shards"), n=64, per_shard=16)
    settings = TrainSettings(epochs=1, batch_size=8, warmup=1, workers=1, log_every_n_steps=1, device="cpu",
                             processes=2)
    logs = str(tmp_path / "logs")
    prepare_run_dir(logs, "ddp", settings, {"shards": pattern, "num_samples": n})
    command = train_command(build_train_argv(pattern, n, logs, "ddp", settings), settings)
    assert command[1:3] == ["-m", "torch.distributed.run"]

    @dg.asset
    def clip_checkpoint(context: dg.AssetExecutionContext, pipes_subprocess_client: dg.PipesSubprocessClient):
        return pipes_subprocess_client.run(command=command, context=context,
                                           env={"PYTHONPATH": str(REPO_ROOT)}).get_materialize_result()

    result = dg.materialize([clip_checkpoint], resources={"pipes_subprocess_client": dg.PipesSubprocessClient()})
    assert result.success
    (mat,) = result.asset_materializations_for_node("clip_checkpoint")  # rank 0 alone reports
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["processes"] == 2 and meta["epochs_completed"] == 1
    # 64 samples a epoch in global batches of 2 x 8, logged every step
    assert [p["samples_seen"] for p in meta["loss_curve"]] == [16, 32, 48, 64]
    # open_clip gathers features over ranks: the first loss is that of a 16-way, not 8-way, contrastive task
    assert abs(meta["first_loss"] - math.log(16)) < 0.3
    log = (tmp_path / "logs" / "ddp" / "out.log").read_text()
    assert "Running in distributed mode with multiple processes. Device: cpu" in log and "total 2" in log

    checkpoint = torch.load(meta["checkpoint"], map_location="cpu", weights_only=True)
    assert all(k.startswith("module.") for k in checkpoint["state_dict"])  # saved from the DDP wrapper
    assert load_clip(DEFAULT_MODEL, meta["checkpoint"]).model is not None
    assert os.path.exists(os.path.join(logs, "ddp", "checkpoints", "epoch_latest.pt"))
