"""Training: a CLIP trained on the shards with open_clip's own trainer, out of process via Pipes."""

import sys

import dagster as dg

from assets import layout
from assets.training.runs import read_shard_index, write_run_pointer
from models.clip.train import TrainSettings, build_train_argv, prepare_run_dir
from pipelines.resources import StorageResource

RUN_NAME = "clip"


class TrainingConfig(dg.Config):
    # An open_clip model name; MedPairs' own configs live in models/clip/configs.
    model: str = TrainSettings.model
    epochs: int = TrainSettings.epochs
    batch_size: int = TrainSettings.batch_size
    lr: float = TrainSettings.lr
    wd: float = TrainSettings.wd
    warmup: int = TrainSettings.warmup
    workers: int = TrainSettings.workers
    seed: int = TrainSettings.seed
    # fp32 on CPU; amp or amp_bf16 on a GPU.
    precision: str = TrainSettings.precision


@dg.asset(group_name="training", deps=["webdataset_shards"], kinds={"pytorch"}, code_version="1", pool="gpu")
def clip_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    storage: StorageResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    """A CLIP checkpoint trained with open_clip_train on the WebDataset shards, with its loss curve
    and throughput."""
    shards, num_samples = read_shard_index(storage.path(layout.SHARDS))
    logs_dir = storage.dir(layout.TRAINING)
    prepare_run_dir(logs_dir, RUN_NAME)
    settings = TrainSettings(**config.model_dump())
    argv = build_train_argv(shards, num_samples, logs_dir, RUN_NAME, settings)
    result = pipes_subprocess_client.run(
        command=[sys.executable, "-m", "models.clip.train_entry", *argv], context=context
    ).get_materialize_result()
    write_run_pointer(logs_dir, RUN_NAME, settings)
    return result
