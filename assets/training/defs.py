"""Training: a CLIP trained on the shards with open_clip's own trainer, out of process via Pipes, and on
request a control trained the same way on captions shuffled against their images."""

import dagster as dg
import pydantic

from assets.export.mixture import read_mixture
from assets.shared import layout
from assets.shared.files import local_folder
from assets.shared.params_config import config_from_params
from assets.shared.storage import StorageResource
from assets.training.control import export_shuffled_shards
from assets.training.runs import (
    finished_run,
    read_run_pointer,
    read_shard_index,
    write_run_pointer,
)
from models.clip.train import (
    TrainSettings,
    build_train_argv,
    prepare_run_dir,
    train_command,
    trainer_env,
)
from models.clip.train_log import run_metadata


class TrainingConfig(config_from_params(TrainSettings)):
    """How clip_model trains (each field but resume: TrainSettings in models/clip/train.py)."""

    resume: bool = pydantic.Field(True, description=(
        "Continue from the run's latest checkpoint when it was started with the same settings and shards."))


class ShuffledControlConfig(dg.Config):
    # Target samples per shard of the shuffled copy (its shards must number workers x processes).
    samples_per_shard: int = 1000
    # Continue from the control's latest checkpoint when it was started with the same settings and shards.
    resume: bool = True


def _train_through_pipes(context: dg.AssetExecutionContext, client: dg.PipesSubprocessClient, shards_dir: str,
                         logs_url: str, name: str, settings: TrainSettings, *, resume: bool) -> dg.MaterializeResult:
    """Train run `name` under `logs_url` on the shards of `shards_dir` out of process through Pipes (the
    trainer's logs and metrics reach the UI), resuming when `prepare_run_dir` allows, then write its run
    pointer. The trainer takes local paths: on an `s3://` root it reads a copy of the shards and trains in
    a copy of the training folder, written back when it ends (local_folder)."""
    shards = read_shard_index(shards_dir)
    data = {"shards": shards.pattern, "num_samples": shards.num_samples, "digest": shards.digest}
    with local_folder(shards_dir) as local_shards, local_folder(logs_url, write_back=True) as logs_dir:
        return _train_in(context, client, read_shard_index(local_shards).pattern, data, logs_dir, name, settings,
                         resume=resume)


def _train_in(context: dg.AssetExecutionContext, client: dg.PipesSubprocessClient, pattern: str, data: dict,
              logs_dir: str, name: str, settings: TrainSettings, *, resume: bool) -> dg.MaterializeResult:
    """_train_through_pipes in the local training folder `logs_dir`, on the local shards `pattern`."""
    resuming = prepare_run_dir(logs_dir, name, settings, data, resume=resume)
    done = finished_run(logs_dir, name, settings) if resuming else None
    if done is not None:
        context.log.info(f"{name}: already trained {settings.epochs} epoch(s) on these shards with these settings; "
                         "checkpoint kept, trainer not started")
        return dg.MaterializeResult(metadata={**_typed(run_metadata(done, resumed=False, processes=settings.processes * settings.nodes)),
                                              "unchanged": True})
    argv = build_train_argv(pattern, data["num_samples"], logs_dir, name, settings, resume=resuming)
    result = client.run(command=train_command(argv, settings), context=context, env=trainer_env()).get_materialize_result()
    write_run_pointer(logs_dir, name, settings)
    return result


def _typed(pipes_metadata: dict) -> dict:
    """Pipes-style metadata ({"raw_value", "type"} entries) as Dagster metadata values."""
    kinds = {"path": dg.MetadataValue.path, "json": dg.MetadataValue.json}
    return {k: kinds[v["type"]](v["raw_value"]) if isinstance(v, dict) else v for k, v in pipes_metadata.items()}


@dg.asset(group_name="training", deps=["webdataset_shards"], kinds={"pytorch"}, code_version="2", pool="gpu")
def clip_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    storage: StorageResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    """A CLIP checkpoint trained with open_clip_train on the WebDataset shards, with its loss curve
    and throughput."""
    return _train_through_pipes(context, pipes_subprocess_client, storage.location(layout.SHARDS),
                                storage.location(layout.TRAINING), layout.TRAINING_RUN, config.params(),
                                resume=config.resume)


@dg.asset(group_name="training", deps=["curated_pairs", "clip_model"], kinds={"pytorch"}, code_version="1",
          pool="gpu")
def shuffled_control(
    context: dg.AssetExecutionContext,
    config: ShuffledControlConfig,
    storage: StorageResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    """A control CLIP trained with clip_model's settings on the curated pairs with their training captions
    shuffled against the images: it should score at chance in the benchmark report."""
    logs_dir = storage.location(layout.TRAINING)
    settings = TrainSettings(**read_run_pointer(logs_dir, layout.TRAINING_RUN)["settings"])
    shards_dir = storage.dir(layout.SHUFFLED_CONTROL_SHARDS)
    shuffle = export_shuffled_shards(storage.path(layout.CURATED_PAIRS), storage.path(layout.SHUFFLED_CONTROL_PAIRS),
                                     shards_dir, seed=settings.seed, samples_per_shard=config.samples_per_shard,
                                     mixture=read_mixture(storage.path(layout.SHARDS_MIXTURE)))
    result = _train_through_pipes(context, pipes_subprocess_client, shards_dir, logs_dir,
                                  layout.SHUFFLED_CONTROL_RUN, settings, resume=config.resume)
    return dg.MaterializeResult(metadata={**(result.metadata or {}), "shuffled_captions": shuffle["shuffled"],
                                          "unchanged_pairs": shuffle["unchanged_pairs"]})
