"""Training levers on the same data, each beside the current default measured in the same run.

The data: the synthetic generator's images (`--train-per-class` and `--test-per-class` per class, at
`--image-size` px, seeded) paired with the valid class captions of a pipeline run (`--captions`, the
`class_captions.parquet` that `make demo` writes; every caption of a class goes into its samples' `.txt`,
one drawn per load, as the pipeline exports them). Each candidate is `TrainSettings` with a few fields
changed; it trains through `run_training` (the command the `clip_model` asset runs) and is scored as the
benchmark report scores it: zero-shot top-1 per synthetic source on the test images with the report's
prompt ensembles, against chance and against the untrained twin. Reported per candidate: seconds per
epoch (from the trainer's log: its training loop, start-up excluded), CPU seconds of the trainer per
sample seen (which other jobs on a shared machine change less), wall seconds, and top-1 per source, each
set beside the default's as a ratio. Writes bench/results/training.{json,md}. Usage:
    python -m bench.training [--captions data/captions/class_captions.parquet] [--only default,vit]
                             [--epochs-scale 1.0] [--timing-only] [--train-per-class 60] [--test-per-class 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assets.export.webdataset import export_shards
from assets.report.suite import build_tasks, load_suite
from assets.shared.images import encode_png
from assets.shared.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES, draw_class
from bench.output import write_results
from models.clip.entries import clip_entry, evaluate_models
from models.clip.train import TrainSettings, run_training

DEFAULT = TrainSettings()
# name -> the fields changed from the default; "default" is the baseline every ratio is taken against.
# A name joined from several with "+" (`vit+threads-1`) applies all their changes.
CANDIDATES: dict[str, dict] = {
    "default": {},
    "threads-1": {"threads": 1},
    "workers-0": {"workers": 0},
    "batch-32": {"batch_size": 32},
    "image-48": {"image_size": 48},
    "epochs-12": {"epochs": 12},
    "epochs-20": {"epochs": 20},
    "epochs-24": {"epochs": 24},
    "lr-1e-3": {"lr": 1e-3},
    "lr-3e-3": {"lr": 3e-3},
    # the default before: a two-layer ViT (patches of 8) as the image tower, 24 epochs
    "vit": {"model": "medpairs-tiny-minilm", "epochs": 24},
    # the default before that: the ViT with a two-layer text transformer trained from scratch
    "text-from-scratch": {"model": "medpairs-tiny-l2", "lock_text": False, "lr": 1e-3, "epochs": 32},
    # MiniLM fine-tuned with the rest (one step of the ViT measured 1.32 s against 0.157 s locked and cached)
    "text-unlocked": {"lock_text": False},
}


def candidate(name: str) -> dict:
    """The changes of a candidate name, joined ones merged left to right."""
    return {k: v for part in name.split("+") for k, v in CANDIDATES[part].items()}


def valid_captions(captions: str) -> dict[tuple[str, str], list[str]]:
    """The valid captions of each (source, label) of a `class_captions.parquet`, in the file's order."""
    by_class: dict[tuple[str, str], list[str]] = {}
    for r in pq.read_table(captions, columns=["source", "label", "caption", "status"]).to_pylist():
        if r["status"] == "valid":
            by_class.setdefault((r["source"], r["label"]), []).append(r["caption"])
    return by_class


def write_pairs(path: str, captions: str, train_per_class: int, test_per_class: int, image_size: int,
                seed: int = 0) -> dict:
    """A curated-pairs-shaped Parquet of drawn images with their class's valid captions; returns counts."""
    by_class = valid_captions(captions)
    rows = []
    for si, spec in enumerate(SYNTHETIC_SOURCES):
        for ci, cls in enumerate(spec.classes):
            texts = by_class.get((spec.name, cls.name))
            if not texts:
                raise ValueError(f"{captions} has no valid caption of {spec.name} / {cls.name}")
            for sp, (split, n) in enumerate((("train", train_per_class), ("test", test_per_class))):
                rng = np.random.default_rng([seed, si, ci, sp])
                for i, pixels in enumerate(draw_class(spec.modality, ci, n, image_size, rng)):
                    rows.append({"sample_id": f"{spec.name}/{split}/{ci}/{i:05d}", "source": spec.name,
                                 "modality": spec.modality, "label": cls.name, "split": split,
                                 "image": {"bytes": encode_png(pixels), "path": None}, "image_format": "png",
                                 "captions": texts})
    pq.write_table(pa.Table.from_pylist(rows), path)
    return {"train": sum(r["split"] == "train" for r in rows), "test": sum(r["split"] == "test" for r in rows)}


def _scores(evaluation, name: str) -> dict:
    rows = {s.row["source"]: s.row for s in evaluation.zero_shot[name]}
    top1 = {src: round(r["top1"], 3) for src, r in rows.items()}
    chance = {src: r["chance"] for src, r in rows.items()}
    return {"top1": top1, "top1_ci": {src: [round(x, 3) for x in r["top1_ci"]] for src, r in rows.items()},
            "balanced_accuracy": {src: round(r["balanced_accuracy"], 3) for src, r in rows.items()},
            "mean_top1": round(float(np.mean(list(top1.values()))), 3),
            "mean_chance": round(float(np.mean(list(chance.values()))), 3),
            "ratio_to_chance": round(float(np.mean(list(top1.values())) / np.mean(list(chance.values()))), 2),
            "all_above_chance": all(r["top1_ci"][0] > r["chance"] for r in rows.values())}


def bench_candidate(name: str, changes: dict, shards: dict, work: str, tasks) -> dict:
    settings = dataclasses.replace(DEFAULT, **changes)
    run = run_training(shards["shards"], shards["num_samples"], f"{work}/logs", name, settings)
    timing = {"changes": changes, "epochs": settings.epochs, "seconds": run["seconds"],
              "seconds_per_epoch": run.get("seconds_per_epoch"),
              "cpu_seconds_per_sample": round(run["cpu_seconds"] / (settings.epochs * shards["num_samples"]), 4),
              "final_loss": run["final_loss"]}
    if tasks is None:  # timing only
        print(name, timing, flush=True)
        return timing
    entries = [clip_entry(name, "trained", name, settings.model, run["checkpoint"])]
    if name == "default":
        entries.append(clip_entry("untrained", "untrained", "untrained twin", settings.model, None, seed=settings.seed))
    evaluation = evaluate_models(entries, tasks.zero_shot)
    out = {**timing, **_scores(evaluation, name)}
    if name == "default":
        out["untrained"] = _scores(evaluation, "untrained")
    print(name, {k: out[k] for k in ("seconds", "seconds_per_epoch", "cpu_seconds_per_sample", "mean_top1",
                                     "ratio_to_chance", "all_above_chance")}, out["top1"], flush=True)
    return out


def run(captions: str, names: list[str], train_per_class: int, test_per_class: int, image_size: int,
        epochs_scale: float, score: bool = True) -> dict:
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = {}
    with tempfile.TemporaryDirectory() as work:
        pairs = f"{work}/curated_pairs.parquet"
        counts = write_pairs(pairs, captions, train_per_class, test_per_class, image_size)
        shards = export_shards(pairs, f"{work}/shards", samples_per_shard=1000)
        tasks = build_tasks(load_suite(), SYNTHETIC_SOURCES, pairs) if score else None
        for name in names:
            changes = candidate(name)
            epochs = changes.get("epochs", DEFAULT.epochs)
            changes["epochs"] = max(1, round(epochs * epochs_scale))
            results[name] = bench_candidate(name, changes, shards, work, tasks)
    base = results.get("default")
    for r in results.values():
        if base:
            r["speedup_vs_default"] = round(base["seconds_per_epoch"] * base["epochs"]
                                            / (r["seconds_per_epoch"] * r["epochs"]), 2)
            if score:
                r["top1_ratio_vs_default"] = round(r["mean_top1"] / base["mean_top1"], 3)
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "samples": counts, "image_size": image_size, "epochs_scale": epochs_scale, "candidates": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captions", default="data/captions/class_captions.parquet")
    parser.add_argument("--only", default=",".join(CANDIDATES), help="candidates, comma-separated")
    parser.add_argument("--train-per-class", type=int, default=60)
    parser.add_argument("--test-per-class", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="every candidate's epochs times this")
    parser.add_argument("--timing-only", action="store_true", help="train and time, do not score")
    args = parser.parse_args()
    result = run(args.captions, args.only.split(","), args.train_per_class, args.test_per_class, args.image_size,
                 args.epochs_scale, score=not args.timing_only)
    sources = [s.name for s in SYNTHETIC_SOURCES]
    rows = [(name, r["epochs"], r["seconds_per_epoch"], r["cpu_seconds_per_sample"], r.get("speedup_vs_default", "-"),
             r.get("mean_top1", "-"), r.get("ratio_to_chance", "-"), *(r.get("top1", {}).get(s, "-") for s in sources))
            for name, r in result["candidates"].items()]
    if "untrained" in result["candidates"].get("default", {}):
        u = result["candidates"]["default"]["untrained"]
        rows.append(("untrained twin", 0, "-", "-", "-", u["mean_top1"], u["ratio_to_chance"],
                     *(u["top1"].get(s, "-") for s in sources)))
    table = md_table(rows, ("candidate", "epochs", "s/epoch", "CPU s/sample", "speed-up", "mean top-1",
                            "x chance", *(s.removeprefix("synthetic_") for s in sources)))
    page = (f"{result['samples']['train']} training and {result['samples']['test']} test images; {result['cpus']} "
            f"cores, load average {result['load_average_before']} before, {result['load_average_after']} after"
            f"\n\n{table}\n")
    write_results("training", result, page)
    print(page)


if __name__ == "__main__":
    main()
