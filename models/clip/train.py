"""Training a CLIP model with open_clip's own trainer (`open_clip_train.main`) on WebDataset shards.

`build_train_argv` turns `TrainSettings` into the trainer's command line and `train_command` into the
command that runs it: `python -m models.clip.train_entry [entry options] -- <argv>` for one process, the
same under `python -m torch.distributed.run` (torchrun) for several (gloo on CPU, nccl on GPUs; open_clip
picks by device). A multi-node run is that command on every node with `nodes` and `rdzv_endpoint` set.
`run_training` runs the command in a subprocess (the same command Dagster Pipes runs) and reads the result
back from the trainer's log folder.

A run folder keeps `epoch_latest.pt` after every epoch. `prepare_run_dir` resumes from it when the folder
was started with the same settings and data (epochs may grow), and starts afresh otherwise.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from models.clip.model_configs import DEFAULT_MODEL, GPU_MODEL, has_hf_text_tower
from models.clip.train_log import LATEST_CHECKPOINT, parse_train_log, summarize_run

__all__ = ["ENTRY_MODULE", "REPO_ROOT", "TrainSettings", "UNIMED_GPU", "build_train_argv", "parse_train_log",
           "prepare_run_dir", "run_training", "summarize_run", "train_command", "trainer_env"]

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_MODULE = "models.clip.train_entry"
RUN_KEY_NAME = "medpairs_run_key.json"
# Settings that change how a run is executed or logged, not what it learns: a run may resume under others.
_NOT_IN_RUN_KEY = ("epochs", "workers", "log_every_n_steps", "save_frequency", "rdzv_endpoint")


@dataclass(frozen=True)
class TrainSettings:
    """What open_clip's trainer needs besides the data. Defaults are the CPU demo setting. Each field's
    description is what the Dagster launchpad shows (clip_model's TrainingConfig is made from this class)."""

    model: str = field(default=DEFAULT_MODEL, metadata={"description": (
        "An open_clip model name; MedPairs' own configs live in models/clip/configs (medpairs-tiny-rn-minilm on "
        "CPU, medpairs-vit-b16-biomedbert on GPUs).")})
    epochs: int = field(default=16, metadata={"description": "Passes over the training shards."})
    batch_size: int = field(default=64, metadata={"description": "Samples per step and process."})
    lr: float = field(default=2e-3, metadata={"description": "Peak learning rate (AdamW, cosine decay)."})
    wd: float = field(default=0.1, metadata={"description": "Weight decay."})
    warmup: int = field(default=20, metadata={"description": (
        "Optimizer steps of linear warm-up before the cosine decay.")})
    workers: int = field(default=1, metadata={"description": (
        "Data-loader processes per training process; at least workers x processes x nodes shards are needed.")})
    seed: int = field(default=0, metadata={"description": (
        "Random seed of the trainer: weights, data order, caption draws and augmentation.")})
    threads: int | None = field(default=2, metadata={"description": (
        "torch threads of each training process (unset: torch's default, one per core). A set count keeps "
        "the arithmetic, so the checkpoint, the same on every machine.")})
    deterministic: bool = field(default=True, metadata={"description": (
        "torch.use_deterministic_algorithms: the same seed, data and settings give the same checkpoint "
        "(on GPUs at some cost in speed).")})
    precision: str = field(default="fp32", metadata={"description": "fp32 on CPU; amp or amp_bf16 on a GPU."})
    image_size: int | None = field(default=None, metadata={"description": (
        "Overrides the model config's image size (--force-image-size).")})
    device: str | None = field(default=None, metadata={"description": (
        "cpu or cuda; unset lets the trainer pick (cuda when present).")})
    log_every_n_steps: int = field(default=5, metadata={"description": (
        "Optimizer steps between two points of the logged loss curve.")})
    save_frequency: int = field(default=0, metadata={"description": (
        "Also keep a checkpoint every N epochs (0: none); the last epoch is always saved.")})
    dataset_resampled: bool = field(default=False, metadata={"description": (
        "Sample shards with replacement instead of passes over every shard.")})
    grad_clip_norm: float | None = field(default=None, metadata={"description": (
        "Clip the gradient norm to this; unset: no clipping.")})
    caption_pick: Literal["random", "first"] = field(default="random", metadata={"description": (
        "random: one caption of the sample's .txt drawn each time it is loaded; first: always the first.")})
    text_tower: str | None = field(default=None, metadata={"description": (
        "Local folder holding the config's Hugging Face text tower and tokenizer (when there is no hub).")})
    lock_text: bool = field(default=True, metadata={"description": (
        "Freeze the model's pretrained Hugging Face text tower (its layer norms too) and train only its "
        "projection; each distinct caption then goes through the frozen tower once (models/clip/frozen_text.py). "
        "False for a text tower trained from scratch (medpairs-tiny-l2) or fine-tuned (UniMed's recipe).")})
    processes: int = field(default=1, metadata={"description": (
        "Training processes per node (one per GPU); more than one runs under torchrun.")})
    nodes: int = field(default=1, metadata={"description": (
        "Machines, each running the same torchrun command (c10d rendezvous at rdzv_endpoint).")})
    rdzv_endpoint: str | None = field(default=None, metadata={"description": (
        "host:port of the rendezvous when nodes > 1 (a port free on that host).")})

    def to_dict(self) -> dict:
        return asdict(self)


# UniMed-CLIP's B/16 recipe (ViT-B/16 + BiomedBERT, context 256, AdamW lr 5e-4, wd 0.2, cosine with warm-up,
# 10 epochs) for one GPU node; set text_tower to a local copy of BiomedBERT where there is no hub.
# batch_size is per GPU (UniMed and BiomedCLIP train with global batches in the thousands: add processes).
UNIMED_GPU = TrainSettings(model=GPU_MODEL, epochs=10, batch_size=128, lr=5e-4, wd=0.2, warmup=2000, workers=8,
                           lock_text=False, precision="amp", device="cuda", log_every_n_steps=50, save_frequency=1,
                           grad_clip_norm=1.0, threads=None, deterministic=False)


def build_train_argv(shards: str, num_samples: int, logs_dir: str, name: str, settings: TrainSettings,
                     *, resume: bool = False) -> list[str]:
    """Command-line arguments for `open_clip_train.main.main(argv)`.

    `shards` is a brace pattern (`.../train-{000000..000003}.tar`), `num_samples` the samples per epoch.
    With `resume`, the trainer continues from the run folder's latest checkpoint.
    """
    s = settings
    argv = [
        "--train-data", shards,
        "--train-num-samples", str(num_samples),
        "--dataset-type", "webdataset",
        "--model", s.model,
        "--epochs", str(s.epochs),
        "--batch-size", str(s.batch_size),
        "--lr", str(s.lr),
        "--wd", str(s.wd),
        "--warmup", str(s.warmup),
        "--workers", str(s.workers),
        "--seed", str(s.seed),
        "--precision", s.precision,
        "--logs", logs_dir,
        "--name", name,
        "--report-to", "",
        "--log-every-n-steps", str(s.log_every_n_steps),
        "--save-frequency", str(s.save_frequency),
        "--save-most-recent",
    ]
    if s.image_size is not None:
        argv += ["--force-image-size", str(s.image_size)]
    if s.device is not None:
        argv += ["--device", s.device]
    if s.dataset_resampled:
        argv.append("--dataset-resampled")
    if s.grad_clip_norm is not None:
        argv += ["--grad-clip-norm", str(s.grad_clip_norm)]
    if s.lock_text:
        if has_hf_text_tower(s.model) is False:
            raise ValueError(f"lock_text freezes a pretrained text tower, and {s.model} trains its text tower "
                             "from scratch: set lock_text to false")
        argv += ["--lock-text", "--lock-text-freeze-layer-norm"]
    if resume:
        argv += ["--resume", "latest"]
    return argv


def train_command(argv: list[str], settings: TrainSettings) -> list[str]:
    """The command that trains: the entry module, under torchrun when more than one process is asked for."""
    entry = ["-m", ENTRY_MODULE, "--caption-pick", settings.caption_pick]
    if settings.text_tower:
        entry += ["--text-tower", settings.text_tower]
    if settings.threads:
        entry += ["--threads", str(settings.threads)]
    if settings.deterministic:
        entry.append("--deterministic")
    entry += ["--", *argv]
    if settings.processes == 1 and settings.nodes == 1:
        return [sys.executable, *entry]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(settings.processes)]
    if settings.nodes == 1:
        launcher.append("--standalone")
    else:
        if not settings.rdzv_endpoint:
            raise ValueError("a run on several nodes needs rdzv_endpoint (host:port of the rendezvous)")
        launcher += ["--nnodes", str(settings.nodes), "--rdzv-backend", "c10d",
                     "--rdzv-endpoint", settings.rdzv_endpoint, "--rdzv-id", "medpairs"]
    return [*launcher, *entry]


def _run_key(settings: TrainSettings, data: dict) -> dict:
    kept = {k: v for k, v in asdict(settings).items() if k not in _NOT_IN_RUN_KEY}
    return {"settings": kept, "data": data}


def prepare_run_dir(logs_dir: str, name: str, settings: TrainSettings, data: dict, *, resume: bool = True) -> bool:
    """Get `{logs_dir}/{name}` ready for a run; True when the run should resume from its latest checkpoint.

    It resumes when `resume` is set, the folder has a latest checkpoint, and it was started with the same
    settings (but for epochs, workers and logging) and the same `data` (e.g. shard pattern, sample count,
    shard digests). Otherwise the folder is replaced whole: open_clip_train refuses to reuse one.
    """
    run_dir = Path(logs_dir) / name
    key = _run_key(settings, data)
    key_path = run_dir / RUN_KEY_NAME
    if resume and (run_dir / "checkpoints" / LATEST_CHECKPOINT).exists() and key_path.exists():
        if json.loads(key_path.read_text()) == json.loads(json.dumps(key)):
            return True
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    key_path.write_text(json.dumps(key, indent=1, sort_keys=True))
    return False


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def trainer_env() -> dict[str, str]:
    """What the trainer's process needs in its environment besides the caller's: MedPairs on its path, and
    OpenMP threads that sleep rather than spin while they wait (unless the caller chose otherwise). torch's
    threads spin by default, and a spinning thread holds a core that another process needs: with the
    Dagster process, a caption server or a test beside it on 2 cores, training steps took 3-4x longer
    (measured: median 2.6-3.5 s a step against 0.78-0.84 s; the arithmetic, so the checkpoint, is the same)."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


def run_training(
    shards: str,
    num_samples: int,
    logs_dir: str,
    name: str,
    settings: TrainSettings = TrainSettings(),
    *,
    resume: bool = False,
    timeout: float | None = None,
) -> dict:
    """Train in a subprocess (`train_command`), then summarize the run.

    With `resume`, a run folder started with the same settings continues from its latest checkpoint;
    otherwise it is replaced. Raises `RuntimeError` with the tail of the output when the trainer fails or
    saves no checkpoint.
    """
    resuming = prepare_run_dir(logs_dir, name, settings, {"shards": shards, "num_samples": num_samples},
                               resume=resume)
    argv = build_train_argv(shards, num_samples, logs_dir, name, settings, resume=resuming)
    env = {**os.environ, **trainer_env()}
    t0, cpu0 = time.perf_counter(), _children_cpu_seconds()
    proc = subprocess.run(train_command(argv, settings), env=env, capture_output=True, text=True, timeout=timeout)
    seconds, cpu_seconds = time.perf_counter() - t0, _children_cpu_seconds() - cpu0
    summary = summarize_run(logs_dir, name)
    if proc.returncode != 0 or summary["checkpoint"] is None:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise RuntimeError(f"open_clip training failed (exit {proc.returncode}):\n{tail}")
    summary["resumed"] = resuming
    summary["seconds"] = round(seconds, 2)
    summary["cpu_seconds"] = round(cpu_seconds, 2)  # user + system of the trainer and its data workers
    summary["num_samples_per_epoch"] = num_samples
    summary["settings"] = settings.to_dict()
    summary["argv"] = argv
    return summary
