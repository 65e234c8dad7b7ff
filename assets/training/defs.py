"""Training: a CLIP trained on the shards with open_clip's own trainer, out of process via Pipes."""

import os
from typing import Literal

import dagster as dg

from assets.shared import layout
from assets.shared.storage import StorageResource
from assets.training.runs import read_shard_index, write_run_pointer
from models.clip.train import (
    REPO_ROOT,
    TrainSettings,
    build_train_argv,
    prepare_run_dir,
    train_command,
)

_DEFAULTS = TrainSettings()


class TrainingConfig(dg.Config):
    # An open_clip model name; MedPairs' own configs live in models/clip/configs
    # (medpairs-tiny on CPU, medpairs-vit-b16-biomedbert on GPUs).
    model: str = _DEFAULTS.model
    epochs: int = _DEFAULTS.epochs
    # Samples per step and process.
    batch_size: int = _DEFAULTS.batch_size
    lr: float = _DEFAULTS.lr
    wd: float = _DEFAULTS.wd
    warmup: int = _DEFAULTS.warmup
    workers: int = _DEFAULTS.workers
    seed: int = _DEFAULTS.seed
    # fp32 on CPU; amp or amp_bf16 on a GPU.
    precision: str = _DEFAULTS.precision
    # Overrides the model config's image size.
    image_size: int | None = None
    # cpu or cuda; unset lets the trainer pick (cuda when present).
    device: str | None = None
    grad_clip_norm: float | None = None
    # random: one caption of the sample's .txt drawn each time it is loaded; first: always the first.
    caption_pick: Literal["random", "first"] = "random"
    # Local folder holding the config's Hugging Face text tower and tokenizer (when there is no hub).
    text_tower: str | None = None
    # Training processes on this machine (one per GPU); more than one runs under torchrun.
    processes: int = 1
    # Continue from the run's latest checkpoint when it was started with the same settings and shards.
    resume: bool = True


@dg.asset(group_name="training", deps=["webdataset_shards"], kinds={"pytorch"}, code_version="2", pool="gpu")
def clip_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    storage: StorageResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    """A CLIP checkpoint trained with open_clip_train on the WebDataset shards, with its loss curve
    and throughput."""
    shards = read_shard_index(storage.path(layout.SHARDS))
    logs_dir = storage.dir(layout.TRAINING)
    settings = TrainSettings(**config.model_dump(exclude={"resume"}))
    data = {"shards": shards.pattern, "num_samples": shards.num_samples, "digest": shards.digest}
    resuming = prepare_run_dir(logs_dir, layout.TRAINING_RUN, settings, data, resume=config.resume)
    argv = build_train_argv(shards.pattern, shards.num_samples, logs_dir, layout.TRAINING_RUN, settings, resume=resuming)
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    result = pipes_subprocess_client.run(
        command=train_command(argv, settings), context=context, env={"PYTHONPATH": pythonpath},
    ).get_materialize_result()
    write_run_pointer(logs_dir, layout.TRAINING_RUN, settings)
    return result
