"""Out-of-process training entry:
`python -m models.clip.train_entry [--caption-pick random|first] [--text-tower DIR] -- <open_clip_train argv>`.

Registers MedPairs' model configs (with the text tower loaded from DIR when given), makes the trainer draw
one caption per load from multi-caption `.txt` files (`models.clip.caption_pick`), runs
`open_clip_train.main.main(argv)` in this process, and, when launched by Dagster Pipes
(`PipesSubprocessClient`), reports the checkpoint path, loss curve and throughput back as materialization
metadata. Under torchrun every process runs this module; only rank 0 talks to Pipes. Without `--`, every
argument goes to open_clip_train (run by hand it just trains).
"""

from __future__ import annotations

import argparse
import os
import sys


def _entry_options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m models.clip.train_entry")
    parser.add_argument("--caption-pick", choices=("random", "first"), default="random")
    parser.add_argument("--text-tower", default=None, help="local folder of the config's Hugging Face text tower")
    if "--" not in argv:
        return parser.parse_args([]), argv
    split = argv.index("--")
    return parser.parse_args(argv[:split]), argv[split + 1 :]


def _allow_cpu_ddp() -> None:
    """open_clip wraps the model as `DistributedDataParallel(model, device_ids=[device])`, which torch
    refuses for a CPU module; drop CPU device ids so the gloo path runs the same trainer code."""
    import torch

    ddp = torch.nn.parallel.DistributedDataParallel

    class CpuFriendlyDDP(ddp):
        def __init__(self, module, device_ids=None, *args, **kwargs):
            if device_ids and all(torch.device(d).type == "cpu" for d in device_ids):
                device_ids = None
            super().__init__(module, device_ids, *args, **kwargs)

    torch.nn.parallel.DistributedDataParallel = CpuFriendlyDDP


def _train(options: argparse.Namespace, argv: list[str]) -> None:
    from open_clip_train.main import main as open_clip_main

    from models.clip import caption_pick
    from models.clip.model_configs import register_model_configs

    register_model_configs(options.text_tower)
    caption_pick.install(options.caption_pick)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _allow_cpu_ddp()
    # open_clip's main returns -1 (and exits 0) when it refuses to run, e.g. the run folder exists.
    if open_clip_main(argv) not in (None, 0):
        raise SystemExit("open_clip_train refused to run; see its output above")


def _run_location(argv: list[str]) -> tuple[str, str]:
    from open_clip_train.params import parse_args

    args = parse_args(argv)
    return args.logs, args.name


def _metadata(summary: dict, argv: list[str]) -> dict:
    curve = summary["loss_curve"]
    # Keep the metadata small: at most ~50 points of the curve, always the last one.
    step = max(1, len(curve) // 50)
    thinned = curve[::step] + ([curve[-1]] if curve and (len(curve) - 1) % step else [])
    return {
        "checkpoint": {"raw_value": summary["checkpoint"], "type": "path"},
        "epochs_completed": summary["epochs_completed"],
        "resumed": "--resume" in argv,
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "samples_seen": summary["samples_seen"],
        "first_loss": summary["first_loss"],
        "final_loss": summary["final_loss"],
        "samples_per_second": summary.get("samples_per_second"),
        "train_loop_seconds": summary.get("train_loop_seconds"),
        "loss_curve": {"raw_value": [{"samples_seen": n, "loss": v} for n, v in thinned], "type": "json"},
        "run_dir": {"raw_value": summary["run_dir"], "type": "path"},
    }


def main(argv: list[str]) -> None:
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    options, trainer_argv = _entry_options(argv)
    rank0 = os.environ.get("RANK", "0") == "0"
    if not (rank0 and PipesEnvVarParamsLoader().is_dagster_pipes_process()):
        _train(options, trainer_argv)
        return
    from models.clip.train_log import summarize_run

    with open_dagster_pipes() as pipes:
        pipes.log.info(f"open_clip_train {' '.join(trainer_argv)}")
        _train(options, trainer_argv)
        summary = summarize_run(*_run_location(trainer_argv))
        if summary["checkpoint"] is None:
            raise RuntimeError(f"training wrote no checkpoint under {summary['run_dir']}")
        pipes.report_asset_materialization(metadata=_metadata(summary, trainer_argv))


if __name__ == "__main__":
    main(sys.argv[1:])
