"""Reading an open_clip_train run back from its folder: checkpoint, loss curve, throughput; and following a
running one's progress from its log messages (`TrainProgress`).

A run folder may hold several sessions: a run resumed from its last checkpoint appends to the same
`out.log`. Each session starts with open_clip's "Running with/in ..." line; a later session replaces the
points an earlier one logged from the epoch it resumed at on, and throughput is the last session's.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

_PREFIX = r"^(?P<time>\d{4}-\d\d-\d\d,\d\d:\d\d:\d\d) \| INFO \| "
_TRAIN_MESSAGE = (
    r"Train Epoch: (?P<epoch>\d+) "
    r"\[\s*(?P<seen>\d+)/(?P<per_epoch>\d+) .*?Batch \(t\): [\d.]+, (?P<sps>[\d.e+-]+)/s.*?"
    r"LR: (?P<lr>[\d.e+-]+) Logit Scale: (?P<scale>[\d.e+-]+) .*?Loss: (?P<loss>[\d.e+-]+) "
)
_TRAIN_LINE = re.compile(_PREFIX + _TRAIN_MESSAGE)
_TRAIN_MESSAGE_RE = re.compile(_TRAIN_MESSAGE)
_START_LINE = re.compile(_PREFIX + r"Start epoch (?P<epoch>\d+)")
_SESSION_LINE = re.compile(_PREFIX + r"Running (with a single process|in distributed mode)")
_TIME_FORMAT = "%Y-%m-%d,%H:%M:%S"
LATEST_CHECKPOINT = "epoch_latest.pt"  # open_clip's --save-most-recent file, rewritten every epoch


def parse_train_log(text: str) -> list[dict]:
    """One dict per 'Train Epoch' line of an open_clip log that a later session did not redo: epoch,
    samples_seen (over all epochs), loss, lr, logit_scale, samples_per_second (last batch), session (0, 1,
    ... for each start of the trainer) and time (seconds since the session's first epoch started)."""
    points: list[dict] = []
    session, start = -1, None
    for line in text.splitlines():
        if _SESSION_LINE.match(line):
            session, start = session + 1, None
            continue
        if start is None and (m := _START_LINE.match(line)):
            start = datetime.strptime(m["time"], _TIME_FORMAT)
            resumed_at = int(m["epoch"])
            points = [p for p in points if p["epoch"] < resumed_at]
            continue
        if not (m := _TRAIN_LINE.match(line)):
            continue
        t = datetime.strptime(m["time"], _TIME_FORMAT)
        points.append({**_train_point(m), "session": max(session, 0),
                       "time": (t - start).total_seconds() if start else None})
    return points


def _train_point(m: re.Match) -> dict:
    epoch, per_epoch = int(m["epoch"]), int(m["per_epoch"])
    return {"epoch": epoch, "samples_seen": epoch * per_epoch + int(m["seen"]), "per_epoch": per_epoch,
            "loss": float(m["loss"]), "lr": float(m["lr"]), "logit_scale": float(m["scale"]),
            "samples_per_second": float(m["sps"])}


class TrainProgress:
    """Where a training session stands, from the trainer's "Train Epoch" log messages: `update(message)`
    returns epoch, step, loss, samples/s (over the session so far) and seconds left, or None for any other
    message. `epochs` is the run's total and `global_batch` the samples of one step over all processes."""

    def __init__(self, epochs: int, global_batch: int, clock=time.monotonic):
        self.epochs, self.global_batch, self.clock = epochs, global_batch, clock
        self._first: tuple[float, int] | None = None  # (time, samples seen) at the session's first point

    def update(self, message: str) -> dict | None:
        if not (m := _TRAIN_MESSAGE_RE.match(message)):
            return None
        p, now = _train_point(m), self.clock()
        self._first = self._first or (now, p["samples_seen"])
        elapsed, trained = now - self._first[0], p["samples_seen"] - self._first[1]
        rate = trained / elapsed if elapsed > 0 and trained > 0 else None
        total = self.epochs * p["per_epoch"]
        steps_per_epoch = -(-p["per_epoch"] // self.global_batch)
        return {"epoch": p["epoch"] + 1, "epochs": self.epochs,
                "step": p["epoch"] * steps_per_epoch + -(-(p["samples_seen"] - p["epoch"] * p["per_epoch"])
                                                           // self.global_batch),
                "steps": self.epochs * steps_per_epoch, "loss": p["loss"],
                "samples_per_second": round(rate, 1) if rate else p["samples_per_second"],
                "seconds_left": round((total - p["samples_seen"]) / rate) if rate else None}


def format_progress(p: dict) -> str:
    """One line of `TrainProgress.update`'s dict: epoch 3/24, step 41/480, loss 2.29, 12.3 samples/s, 1:23 left."""
    left = "time left unknown" if p["seconds_left"] is None else \
        f"{p['seconds_left'] // 60}:{p['seconds_left'] % 60:02d} left"
    return (f"epoch {p['epoch']}/{p['epochs']}, step {p['step']}/{p['steps']}, loss {p['loss']:.4f}, "
            f"{p['samples_per_second']:.1f} samples/s, {left}")


def _epoch_checkpoints(run_dir: Path) -> list[Path]:
    found = [p for p in (run_dir / "checkpoints").glob("epoch_*.pt") if p.stem.split("_")[1].isdigit()]
    return sorted(found, key=lambda p: int(p.stem.split("_")[1]))


def summarize_run(logs_dir: str, name: str) -> dict:
    """Checkpoint path, loss curve and throughput of the run `{logs_dir}/{name}`."""
    run_dir = (Path(logs_dir) / name).resolve()
    log_path = run_dir / "out.log"
    points = parse_train_log(log_path.read_text()) if log_path.exists() else []
    ckpts = _epoch_checkpoints(run_dir)
    latest = run_dir / "checkpoints" / LATEST_CHECKPOINT
    out = {
        "run_dir": str(run_dir),
        "log_path": str(log_path),
        "checkpoint": str(ckpts[-1]) if ckpts else None,
        "latest_checkpoint": str(latest) if latest.exists() else None,
        "epochs_completed": int(ckpts[-1].stem.split("_")[1]) if ckpts else 0,
        "sessions": points[-1]["session"] + 1 if points else 0,
        "loss_curve": [(p["samples_seen"], p["loss"]) for p in points],
        "first_loss": points[0]["loss"] if points else None,
        "final_loss": points[-1]["loss"] if points else None,
        "samples_seen": points[-1]["samples_seen"] if points else 0,
    }
    # Throughput of the last session's training loop (start-up excluded; log times have 1 s resolution).
    last = [p for p in points if p["session"] == (points[-1]["session"] if points else None)]
    if last and last[-1]["time"]:
        trained = last[-1]["samples_seen"] - last[0]["epoch"] * last[0]["per_epoch"]
        out["samples_trained"] = trained
        out["train_loop_seconds"] = last[-1]["time"]
        out["samples_per_second"] = round(trained / last[-1]["time"], 1)
        out["seconds_per_epoch"] = round(last[-1]["time"] * last[-1]["per_epoch"] / trained, 2)
    return out


def run_metadata(summary: dict, *, resumed: bool, processes: int) -> dict:
    """A run's summary as Pipes materialization metadata (raw values, typed where Dagster renders them)."""
    curve = summary["loss_curve"]
    # Keep the metadata small: at most ~50 points of the curve, always the last one.
    step = max(1, len(curve) // 50)
    thinned = curve[::step] + ([curve[-1]] if curve and (len(curve) - 1) % step else [])
    return {
        "checkpoint": {"raw_value": summary["checkpoint"], "type": "path"},
        "epochs_completed": summary["epochs_completed"],
        "resumed": resumed,
        "processes": processes,
        "samples_seen": summary["samples_seen"],
        "first_loss": summary["first_loss"],
        "final_loss": summary["final_loss"],
        "samples_per_second": summary.get("samples_per_second"),
        "seconds_per_epoch": summary.get("seconds_per_epoch"),
        "train_loop_seconds": summary.get("train_loop_seconds"),
        "loss_curve": {"raw_value": [{"samples_seen": n, "loss": v} for n, v in thinned], "type": "json"},
        "run_dir": {"raw_value": summary["run_dir"], "type": "path"},
    }
