"""Out-of-process training entry: `python -m models.clip.train_entry [--caption-pick random|first]
[--text-tower DIR] [--threads N] [--deterministic] -- <open_clip_train argv>`.

Registers MedPairs' model configs (with the text tower loaded from DIR when given), makes the trainer draw
one caption per load from multi-caption `.txt` files and seeds its data order (`models.clip.trainer_data`),
fixes torch's thread count and, with `--deterministic`, its algorithms (so a run does not depend on the
machine's load), then runs `open_clip_train.main.main(argv)` in this process. When launched by Dagster
Pipes (`PipesSubprocessClient`), it sends the progress of every logged step (epoch, step, loss,
samples/s, time left) as Pipes log lines, and reports the checkpoint path, loss curve and throughput back
as materialization metadata. Under torchrun every process runs this module; only rank 0 talks to Pipes.
Without `--`, every argument goes to open_clip_train (run by hand it just trains).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def _entry_options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m models.clip.train_entry")
    parser.add_argument("--caption-pick", choices=("random", "first"), default="random")
    parser.add_argument("--text-tower", default=None, help="local folder of the config's Hugging Face text tower")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms")
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


def _fused_adamw() -> None:
    """open_clip builds torch's AdamW with its default implementation, which on a CPU steps every parameter
    through a chain of separate kernels (lerp, mul, addcmul, sqrt, div, add): on the CPU demo model, whose
    6.3M-row token embedding is most of its weights, that was a quarter of each step. The fused kernel makes
    the same update in one pass per tensor (CPU and CUDA); a caller that picks an implementation keeps it."""
    import torch

    adamw = torch.optim.AdamW

    class FusedAdamW(adamw):
        def __init__(self, params, *args, **kwargs):
            if kwargs.get("foreach") is None and kwargs.get("fused") is None:
                kwargs["fused"] = True
            super().__init__(params, *args, **kwargs)

    torch.optim.AdamW = FusedAdamW


def _channels_last_convnets() -> None:
    """A convolutional image tower (open_clip's ModifiedResNet, CLIP's RN shape) trains in channels-last
    memory format, weights and input images alike: oneDNN's (and cuDNN's) convolutions run it without
    reordering every activation, and a step of the CPU default took 0.103 s against 0.156 s in the
    default layout (one process, batch 64, 2 threads). The arithmetic is the same convolution's; the
    checkpoint's tensors load into a model in either layout."""
    import open_clip_train.main as trainer
    import torch
    from open_clip.modified_resnet import ModifiedResNet

    create = getattr(trainer.create_model_and_transforms, "__wrapped__", trainer.create_model_and_transforms)

    def create_channels_last(*args, **kwargs):
        model, *rest = create(*args, **kwargs)
        if isinstance(getattr(model, "visual", None), ModifiedResNet):
            model.to(memory_format=torch.channels_last)
            model.visual.register_forward_pre_hook(
                lambda _, inputs: (inputs[0].contiguous(memory_format=torch.channels_last), *inputs[1:]))
            logging.getLogger(__name__).info("image tower %s in channels-last memory format",
                                             type(model.visual).__name__)
        return (model, *rest)

    create_channels_last.__wrapped__ = create
    trainer.create_model_and_transforms = create_channels_last


def _fix_numerics(threads: int | None, deterministic: bool) -> None:
    """The same arithmetic on every run: a set thread count (torch's default follows the cores, and
    reductions split by thread differ in their last bits) and, if asked, deterministic kernels."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS needs
        torch.use_deterministic_algorithms(True)


def _train(options: argparse.Namespace, argv: list[str]) -> None:
    from open_clip_train.main import main as open_clip_main

    from models.clip import frozen_text, trainer_data
    from models.clip.model_configs import register_model_configs

    register_model_configs(options.text_tower)
    frozen_text.install()
    trainer_data.install(options.caption_pick)
    _fix_numerics(options.threads, options.deterministic)
    _fused_adamw()
    _channels_last_convnets()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _allow_cpu_ddp()
    # open_clip's main returns -1 (and exits 0) when it refuses to run, e.g. the run folder exists.
    if open_clip_main(argv) not in (None, 0):
        raise SystemExit("open_clip_train refused to run; see its output above")


def _trainer_args(argv: list[str]):
    from open_clip_train.params import parse_args

    return parse_args(argv)


class _PipesProgress(logging.Handler):
    """Sends each of the trainer's "Train Epoch" log records to Pipes as a progress line."""

    def __init__(self, pipes, progress):
        super().__init__(logging.INFO)
        self.pipes, self.progress = pipes, progress

    def emit(self, record: logging.LogRecord) -> None:
        if (p := self.progress.update(record.getMessage())) is not None:
            from models.clip.train_log import format_progress

            self.pipes.log.info(format_progress(p))


def main(argv: list[str]) -> None:
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    options, trainer_argv = _entry_options(argv)
    rank0 = os.environ.get("RANK", "0") == "0"
    if not (rank0 and PipesEnvVarParamsLoader().is_dagster_pipes_process()):
        _train(options, trainer_argv)
        return
    from models.clip.train_log import TrainProgress, run_metadata, summarize_run

    args = _trainer_args(trainer_argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    with open_dagster_pipes() as pipes:
        pipes.log.info(f"open_clip_train {' '.join(trainer_argv)}")
        handler = _PipesProgress(pipes, TrainProgress(args.epochs, args.batch_size * world))
        logging.getLogger().addHandler(handler)
        try:
            _train(options, trainer_argv)
        finally:
            logging.getLogger().removeHandler(handler)
        summary = summarize_run(args.logs, args.name)
        if summary["checkpoint"] is None:
            raise RuntimeError(f"training wrote no checkpoint under {summary['run_dir']}")
        pipes.report_asset_materialization(metadata=run_metadata(summary, resumed="--resume" in trainer_argv,
                                                                 processes=world))


if __name__ == "__main__":
    main(sys.argv[1:])
