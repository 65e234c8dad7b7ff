"""Training: a CLIP trained on the shards with open_clip's own trainer, out of process via Pipes."""

import os

import dagster as dg
import pydantic

from assets.shared import layout
from assets.shared.params_config import config_from_params
from assets.shared.storage import StorageResource
from assets.training.runs import read_shard_index, write_run_pointer
from models.clip.train import (
    REPO_ROOT,
    TrainSettings,
    build_train_argv,
    prepare_run_dir,
    train_command,
)


class TrainingConfig(config_from_params(TrainSettings)):
    """How clip_model trains (each field but resume: TrainSettings in models/clip/train.py)."""

    resume: bool = pydantic.Field(True, description=(
        "Continue from the run's latest checkpoint when it was started with the same settings and shards."))


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
    settings = config.params()
    data = {"shards": shards.pattern, "num_samples": shards.num_samples, "digest": shards.digest}
    resuming = prepare_run_dir(logs_dir, layout.TRAINING_RUN, settings, data, resume=config.resume)
    argv = build_train_argv(shards.pattern, shards.num_samples, logs_dir, layout.TRAINING_RUN, settings, resume=resuming)
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    result = pipes_subprocess_client.run(
        command=train_command(argv, settings), context=context, env={"PYTHONPATH": pythonpath},
    ).get_materialize_result()
    write_run_pointer(logs_dir, layout.TRAINING_RUN, settings)
    return result
