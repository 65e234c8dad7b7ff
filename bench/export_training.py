"""Export and training throughput, each beside its baseline measured in the same run.

- export: `export_shards` (curated pairs Parquet in, WebDataset shards plus manifests out, every shard
  flushed to disk) in MB/s of shards, against a plain sequential write of the same bytes (the shards read
  back into memory) to one file on the same disk, flushed the same way;
- training: samples/s of the `clip_model` asset's path (Dagster materialization, Pipes, `train_entry`,
  open_clip_train) against `open_clip_train.main` run directly (a bare `python -c` that only registers
  MedPairs' model configs) with the same argv on the same shards. Samples/s is taken over the training loop
  (from the trainer's log, start-up excluded); samples per CPU second of the trainer's processes (which
  other jobs on a shared machine do not change) and wall-clock samples/s are given too;
- GPU, only where CUDA is present: ViT-B/16 at 224 px (UniMed's recipe, a BERT-base-sized text tower)
  through the same path as the asset.

The curated pairs are the synthetic generator's drawings of all six modalities encoded as PNG, with ten
captions per class, in a Parquet file shaped like `curated_pairs` (zstd, one row group). Measurements
alternate between the two sides and the figures are medians; the load average before and after is
recorded, since other jobs may share the CPU. Writes bench/results/export_training.{json,md}. Usage:
    python -m bench.export_training [--per-class N] [--image-size PX] [--repeats R]
                                    [--train-per-class N] [--epochs E] [--train-repeats R] [--gpu]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assets.export.webdataset import export_shards
from assets.shared import layout
from assets.shared.images import encode_png
from assets.shared.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES, draw_class
from bench.output import write_results
from models.clip.model_configs import CONFIG_DIR
from models.clip.train import TrainSettings, build_train_argv, summarize_run

CAPTIONS_PER_CLASS = 10


def write_curated_pairs(path: str, per_class: int, image_size: int, seed: int = 0) -> int:
    """A curated-pairs-shaped Parquet of `per_class` training images per synthetic class; returns rows."""
    rows = []
    for si, spec in enumerate(SYNTHETIC_SOURCES):
        for ci, cls in enumerate(spec.classes):
            rng = np.random.default_rng([seed, si, ci])
            captions = [f"A {spec.modality} image showing {cls.name}, finding {k}." for k in range(CAPTIONS_PER_CLASS)]
            for i, pixels in enumerate(draw_class(spec.modality, ci, per_class, image_size, rng)):
                data = encode_png(pixels)
                rows.append({"sample_id": f"{spec.name}/{ci}/{i:05d}", "source": spec.name, "modality": spec.modality,
                             "label": cls.name, "split": "train", "image": {"bytes": data, "path": f"{ci}/{i}.png"},
                             "image_format": "png", "width": image_size, "height": image_size,
                             "pixel_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(), "captions": captions})
    pq.write_table(pa.Table.from_pylist(rows), path, compression="zstd", row_group_size=len(rows))
    return len(rows)


def _plain_write(payload: list[bytes], path: str) -> float:
    started = time.perf_counter()
    with open(path, "wb") as f:
        for b in payload:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - started


def bench_export(pairs: str, work: str, repeats: int) -> dict:
    """Medians of `repeats` fresh exports and plain writes of the same bytes, alternating which goes first."""
    export_s, plain_s, first = [], [], None
    for r in range(repeats):
        out, plain = f"{work}/export-{r}", f"{work}/plain-{r}.bin"
        order = ("export", "plain") if r % 2 == 0 else ("plain", "export")
        payload = None
        for side in order:
            if side == "export":
                stats = export_shards(pairs, out, samples_per_shard=1000, resume=False)
                export_s.append(stats["seconds"])
                first = first or stats
            else:
                if payload is None:  # the bytes of the shards, read outside the timing
                    reference = out if os.path.isdir(out) else f"{work}/reference"
                    if not os.path.isdir(reference):
                        export_shards(pairs, reference, samples_per_shard=1000)
                    payload = [open(p, "rb").read() for p in sorted(glob.glob(f"{reference}/*.tar"))]
                plain_s.append(_plain_write(payload, plain))
        shutil.rmtree(out, ignore_errors=True)
        os.remove(plain)
    mb = first["bytes"] / 1e6
    export_mb_s, plain_mb_s = mb / statistics.median(export_s), mb / statistics.median(plain_s)
    return {"samples": first["num_samples"], "shards": first["num_shards"], "mb": round(mb, 1),
            "export_seconds": export_s, "plain_seconds": plain_s,
            "export_mb_s": round(export_mb_s, 1), "plain_mb_s": round(plain_mb_s, 1),
            "ratio": round(export_mb_s / plain_mb_s, 2)}


_DIRECT = ("import sys, open_clip; open_clip.add_model_config(sys.argv[1]); "
           "from open_clip_train.main import main; sys.exit(main(sys.argv[2:]) or 0)")


def _train_through_asset(root: str, config: dict) -> float:
    import dagster as dg

    from assets.shared.storage import StorageResource
    from assets.training.defs import clip_model

    started = time.perf_counter()
    run_config = {"ops": {"clip_model": {"config": config}},
                  "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = dg.materialize([clip_model], run_config=run_config,
                            resources={"storage": StorageResource(root=root),
                                       "pipes_subprocess_client": dg.PipesSubprocessClient()})
    assert result.success
    return time.perf_counter() - started


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_training(pairs: str, work: str, settings: TrainSettings, repeats: int) -> dict:
    """Samples/s of the asset's path and of open_clip_train run directly, alternating, on the same shards."""
    root = f"{work}/asset"
    shards = export_shards(pairs, f"{root}/{layout.SHARDS}", samples_per_shard=256)
    logs = f"{root}/{layout.TRAINING}"
    config = {k: getattr(settings, k) for k in ("model", "epochs", "batch_size", "lr", "wd", "warmup", "workers",
                                                "seed", "precision")} | {"resume": False}
    sides: dict[str, dict[str, list]] = {side: {"loop": [], "wall": [], "cpu": [], "orchestrator_cpu_s": []}
                                         for side in ("asset", "direct")}
    total = shards["num_samples"] * settings.epochs
    for r in range(repeats):
        for side in (("asset", "direct") if r % 2 == 0 else ("direct", "asset")):
            cpu0, self0 = _children_cpu_seconds(), time.process_time()
            if side == "asset":
                seconds = _train_through_asset(root, config)
                summary = summarize_run(logs, "clip")
            else:
                name = f"direct-{r}"
                argv = build_train_argv(shards["shards"], shards["num_samples"], logs, name, settings)
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", _DIRECT, str(CONFIG_DIR), *argv], check=True,
                               capture_output=True)
                seconds = time.perf_counter() - started
                summary = summarize_run(logs, name)
            sides[side]["loop"].append(summary["samples_per_second"])
            sides[side]["wall"].append(round(total / seconds, 1))
            sides[side]["cpu"].append(round(total / (_children_cpu_seconds() - cpu0), 1))
            sides[side]["orchestrator_cpu_s"].append(round(time.process_time() - self0, 2))  # Dagster, in this process
    medians = {side: {k: statistics.median(v) for k, v in figures.items()} for side, figures in sides.items()}
    return {"samples_per_epoch": shards["num_samples"], "epochs": settings.epochs, "runs": sides,
            "asset_samples_s": medians["asset"]["loop"], "direct_samples_s": medians["direct"]["loop"],
            "asset_wall_samples_s": medians["asset"]["wall"], "direct_wall_samples_s": medians["direct"]["wall"],
            "asset_cpu_samples_s": medians["asset"]["cpu"], "direct_cpu_samples_s": medians["direct"]["cpu"],
            "ratio": round(medians["asset"]["loop"] / medians["direct"]["loop"], 3),
            "wall_ratio": round(medians["asset"]["wall"] / medians["direct"]["wall"], 3),
            "cpu_ratio": round(medians["asset"]["cpu"] / medians["direct"]["cpu"], 3)}


def bench_gpu(pairs: str, work: str) -> dict:
    """ViT-B/16 at 224 px with a BERT-base-sized text tower (random weights), one epoch, on CUDA."""
    import torch

    if not torch.cuda.is_available():
        return {"measured": False, "reason": "no CUDA device in this session"}
    from dataclasses import replace

    from transformers import BertConfig, BertModel, BertTokenizerFast

    from models.clip.train import UNIMED_GPU, run_training

    tower = f"{work}/bert-base-random"
    os.makedirs(tower, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz0123456789.,"]
    with open(f"{tower}/vocab.txt", "w") as f:
        f.write("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=f"{tower}/vocab.txt").save_pretrained(tower)
    BertModel(BertConfig()).save_pretrained(tower)
    shards = export_shards(pairs, f"{work}/gpu-shards", samples_per_shard=1000)
    settings = replace(UNIMED_GPU, epochs=1, warmup=10, text_tower=tower, workers=min(8, shards["num_shards"]))
    run = run_training(shards["shards"], shards["num_samples"], f"{work}/gpu-logs", "vit-b16", settings)
    return {"measured": True, "device": torch.cuda.get_device_name(0), "samples_s": run["samples_per_second"],
            "batch_size": settings.batch_size, "precision": settings.precision}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(per_class: int, image_size: int, repeats: int, train_per_class: int, epochs: int, train_repeats: int,
        gpu: bool) -> dict:
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        n = write_curated_pairs(f"{tmp}/pairs.parquet", per_class, image_size)
        export = bench_export(f"{tmp}/pairs.parquet", tmp, repeats)
        write_curated_pairs(f"{tmp}/train_pairs.parquet", train_per_class, 64, seed=1)
        training = bench_training(f"{tmp}/train_pairs.parquet", tmp,
                                  TrainSettings(epochs=epochs, batch_size=64, workers=1, log_every_n_steps=5),
                                  train_repeats)
        gpu_result = bench_gpu(f"{tmp}/pairs.parquet", tmp) if gpu else {"measured": False, "reason": "--gpu not given"}
    return {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_before": load_before, "load_average_after": _load(),
        "export": {"images": n, "image_size": image_size, **export},
        "training": {"model": TrainSettings().model, "image_size": 64, **training},
        "gpu": gpu_result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-per-class", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--gpu", action="store_true", help="also ViT-B/16 at 224 px when CUDA is present")
    args = parser.parse_args()
    result = run(args.per_class, args.image_size, args.repeats, args.train_per_class, args.epochs,
                 args.train_repeats, args.gpu)
    e, t, g = result["export"], result["training"], result["gpu"]
    table = md_table([
        ("export", "MB/s", e["export_mb_s"], "plain sequential write, same bytes, same disk", e["plain_mb_s"],
         e["ratio"], "0.70"),
        ("training (train loop)", "samples/s", t["asset_samples_s"], "open_clip_train.main direct, same argv",
         t["direct_samples_s"], t["ratio"], "0.95"),
        ("training (per CPU second of the trainer)", "samples/s", t["asset_cpu_samples_s"],
         "open_clip_train.main direct, same argv", t["direct_cpu_samples_s"], t["cpu_ratio"], "-"),
        ("training (wall clock, start-up included)", "samples/s", t["asset_wall_samples_s"],
         "open_clip_train.main direct, same argv", t["direct_wall_samples_s"], t["wall_ratio"], "-"),
        ("ViT-B/16 224 px (GPU)", "samples/s", g.get("samples_s", "not measured: " + g.get("reason", "")), "-", "-",
         "-", "-"),
    ], ("stage", "unit", "MedPairs", "baseline", "baseline value", "ratio", "target ratio"))
    header = (f"{e['images']} images at {e['image_size']} px ({e['mb']} MB of shards); training "
              f"{t['samples_per_epoch']} samples x {t['epochs']} epochs of {t['model']} at 64 px; "
              f"{result['machine']['cpus']} cores, load average {result['load_average_before']} before, "
              f"{result['load_average_after']} after")
    write_results("export_training", result, header + "\n\n" + table + "\n")
    print(header + "\n" + table)


if __name__ == "__main__":
    main()
