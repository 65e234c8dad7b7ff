"""Training a CLIP model with open_clip's own trainer (`open_clip_train.main`) on WebDataset shards.

`build_train_argv` turns `TrainSettings` into the trainer's command line; `run_training` runs
`python -m models.clip.train_entry <argv>` in a subprocess (the same command Dagster Pipes runs) and
reads the result back from the trainer's log folder: checkpoint path, loss curve, throughput.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_MODULE = "models.clip.train_entry"


@dataclass(frozen=True)
class TrainSettings:
    """What open_clip's trainer needs besides the data. Defaults are the CPU demo setting."""

    model: str = "medpairs-tiny"  # an open_clip model name; ours live in models/clip/configs
    epochs: int = 24
    batch_size: int = 64
    lr: float = 1e-3
    wd: float = 0.1
    warmup: int = 20  # optimizer steps of linear warm-up before the cosine decay
    workers: int = 1  # data-loader processes; the shard count must be at least this
    seed: int = 0
    precision: str = "fp32"  # "amp" / "amp_bf16" on a GPU
    image_size: int | None = None  # overrides the config's image size (--force-image-size)
    device: str | None = None  # None lets the trainer pick (cuda if present, else cpu)
    log_every_n_steps: int = 5
    save_frequency: int = 0  # also keep a checkpoint every N epochs; the last epoch is always saved
    dataset_resampled: bool = False  # sample shards with replacement instead of epoch passes
    grad_clip_norm: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def build_train_argv(shards: str, num_samples: int, logs_dir: str, name: str, settings: TrainSettings) -> list[str]:
    """Command-line arguments for `open_clip_train.main.main(argv)`.

    `shards` is a brace pattern (`.../train-{000000..000003}.tar`), `num_samples` the samples per epoch.
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
    ]
    if s.image_size is not None:
        argv += ["--force-image-size", str(s.image_size)]
    if s.device is not None:
        argv += ["--device", s.device]
    if s.dataset_resampled:
        argv.append("--dataset-resampled")
    if s.grad_clip_norm is not None:
        argv += ["--grad-clip-norm", str(s.grad_clip_norm)]
    return argv


# -- reading a finished run back ---------------------------------------------------------------------

_TRAIN_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d,\d\d:\d\d:\d\d) \| INFO \| Train Epoch: (?P<epoch>\d+) "
    r"\[\s*(?P<seen>\d+)/(?P<per_epoch>\d+) .*?Batch \(t\): [\d.]+, (?P<sps>[\d.e+-]+)/s.*?"
    r"LR: (?P<lr>[\d.e+-]+) Logit Scale: (?P<scale>[\d.e+-]+) .*?Loss: (?P<loss>[\d.e+-]+) "
)
_START_LINE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\d,\d\d:\d\d:\d\d) \| INFO \| Start epoch 0")
_TIME_FORMAT = "%Y-%m-%d,%H:%M:%S"


def parse_train_log(text: str) -> list[dict]:
    """One dict per 'Train Epoch' line of an open_clip log: epoch, step (samples seen in all epochs),
    loss, lr, logit_scale, samples_per_second (of the last batch), time (seconds since epoch 0 started)."""
    start = None
    points = []
    for line in text.splitlines():
        if start is None and (m := _START_LINE.match(line)):
            start = datetime.strptime(m["time"], _TIME_FORMAT)
            continue
        m = _TRAIN_LINE.match(line)
        if not m:
            continue
        t = datetime.strptime(m["time"], _TIME_FORMAT)
        epoch, per_epoch = int(m["epoch"]), int(m["per_epoch"])
        points.append(
            {
                "epoch": epoch,
                "samples_seen": epoch * per_epoch + int(m["seen"]),
                "loss": float(m["loss"]),
                "lr": float(m["lr"]),
                "logit_scale": float(m["scale"]),
                "samples_per_second": float(m["sps"]),
                "time": (t - start).total_seconds() if start else None,
            }
        )
    return points


def summarize_run(logs_dir: str, name: str) -> dict:
    """Checkpoint path, loss curve and throughput of the finished run `{logs_dir}/{name}`."""
    run_dir = (Path(logs_dir) / name).resolve()
    log_path = run_dir / "out.log"
    points = parse_train_log(log_path.read_text()) if log_path.exists() else []
    ckpts = sorted((run_dir / "checkpoints").glob("epoch_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    out = {
        "run_dir": str(run_dir),
        "log_path": str(log_path),
        "checkpoint": str(ckpts[-1]) if ckpts else None,
        "epochs_completed": int(ckpts[-1].stem.split("_")[1]) if ckpts else 0,
        "loss_curve": [(p["samples_seen"], p["loss"]) for p in points],
        "first_loss": points[0]["loss"] if points else None,
        "final_loss": points[-1]["loss"] if points else None,
        "samples_seen": points[-1]["samples_seen"] if points else 0,
    }
    # Throughput over the training loop itself (log timestamps have 1 s resolution), start-up excluded.
    if points and points[-1]["time"]:
        out["train_loop_seconds"] = points[-1]["time"]
        out["samples_per_second"] = round(points[-1]["samples_seen"] / points[-1]["time"], 1)
    return out


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prepare_run_dir(logs_dir: str, name: str) -> None:
    """open_clip_train refuses to reuse a run folder: a new run replaces the old one whole."""
    shutil.rmtree(Path(logs_dir) / name, ignore_errors=True)


def run_training(
    shards: str,
    num_samples: int,
    logs_dir: str,
    name: str,
    settings: TrainSettings = TrainSettings(),
    *,
    overwrite: bool = True,
    timeout: float | None = None,
    threads: int | None = None,
) -> dict:
    """Train in a subprocess (`python -m models.clip.train_entry`), then summarize the run.

    The trainer refuses to reuse a run folder; with `overwrite` an earlier `{logs_dir}/{name}` is removed
    first. Raises `RuntimeError` with the tail of the output when the trainer fails or saves no checkpoint.
    """
    if overwrite:
        prepare_run_dir(logs_dir, name)
    argv = build_train_argv(shards, num_samples, logs_dir, name, settings)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    t0, cpu0 = time.perf_counter(), _children_cpu_seconds()
    proc = subprocess.run(
        [sys.executable, "-m", ENTRY_MODULE, *argv],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    seconds, cpu_seconds = time.perf_counter() - t0, _children_cpu_seconds() - cpu0
    summary = summarize_run(logs_dir, name)
    if proc.returncode != 0 or summary["checkpoint"] is None:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise RuntimeError(f"open_clip training failed (exit {proc.returncode}):\n{tail}")
    summary["seconds"] = round(seconds, 2)
    summary["cpu_seconds"] = round(cpu_seconds, 2)  # user + system of the trainer and its data workers
    summary["num_samples_per_epoch"] = num_samples
    summary["settings"] = settings.to_dict()
    summary["argv"] = argv
    return summary
