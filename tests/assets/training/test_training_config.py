"""clip_model's run config as a user writes it (`dagster job execute -c config.yaml`, the launchpad),
checked against medpairs_job's schema and turned into the trainer's command as the asset turns it, without
training: a two-node config gives torchrun's two-node command, and gpu.yaml is the UNIMED_GPU recipe."""

import dataclasses
from pathlib import Path

import dagster as dg
from open_clip_train.params import parse_args
from torch.distributed.run import get_args_parser

from assets.training.defs import TrainingConfig
from models.clip.train import ENTRY_MODULE, UNIMED_GPU, build_train_argv, train_command
from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[3]
TWO_NODES = """
ops:
  clip_model:
    config:
      processes: 4
      nodes: 2
      rdzv_endpoint: head-node:29400
      log_every_n_steps: 50
      save_frequency: 2
      dataset_resampled: true
"""


def _training_config(run_config: dict) -> TrainingConfig:
    """The TrainingConfig the asset receives for `run_config` (validated, defaults filled in)."""
    processed = dg.validate_run_config(defs.resolve_job_def("medpairs_job"), run_config)
    return TrainingConfig(**processed["ops"]["clip_model"]["config"])


def test_a_two_node_config_runs_the_trainer_under_a_two_node_torchrun():
    settings = _training_config(dg.config_from_yaml_strings([TWO_NODES])).params()
    argv = build_train_argv("/data/shards/train-{000000..000015}.tar", 1600, "/data/training", "run", settings)
    launch = get_args_parser().parse_args(train_command(argv, settings)[3:])  # what torchrun makes of it
    assert (launch.nnodes, launch.nproc_per_node, launch.rdzv_backend, launch.rdzv_endpoint) == (
        "2", "4", "c10d", "head-node:29400")
    assert not launch.standalone and launch.module and launch.training_script == ENTRY_MODULE
    trainer = parse_args(launch.training_script_args[launch.training_script_args.index("--") + 1 :])
    assert (trainer.log_every_n_steps, trainer.save_frequency, trainer.dataset_resampled) == (50, 2, True)


def test_gpu_yaml_is_the_unimed_gpu_recipe_with_a_local_text_tower():
    config = _training_config(dg.config_from_files([str(ROOT / "pipelines/configs/gpu.yaml")]))
    assert config.resume
    assert dataclasses.replace(config.params(), text_tower=None) == UNIMED_GPU
