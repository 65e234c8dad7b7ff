"""Throughput of the data stages on generated images, each beside a baseline measured in the same run.

- ingest (decode, normalize, hash, Parquet) against a plain PIL decode + PNG re-encode loop;
- curation (DuckDB dedup + decontamination) in samples/s;
- export (WebDataset shards) against a plain sequential write of the same bytes to the same disk
  (`bench_export` of bench/export_training.py: medians of alternating runs).

Writes bench/results/data_stages.json and a Markdown table. Usage:
    python -m bench.data_stages [--per-class N] [--image-size PX]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from assets.curation.curate import curate
from assets.ingest.ingest import ingest_rows
from assets.shared.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES, generate_synthetic_dataset
from bench.export_training import bench_export
from bench.output import write_results


def _plain_reencode(paths: list[str]) -> float:
    started = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.load()
            im.save(io.BytesIO(), format="PNG")
    return time.perf_counter() - started


def _one_caption_per_class(path: str) -> None:
    rows = [{"source": s.name, "label": c.name, "caption": f"An image showing {c.name}.",
             "status": "valid", "origin": "template"} for s in SYNTHETIC_SOURCES for c in s.classes]
    pq.write_table(pa.Table.from_pylist(rows), path)


def run(per_class: int, image_size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        rows, _ = generate_synthetic_dataset(f"{tmp}/src", train_per_class=per_class, test_per_class=per_class // 4,
                                             image_size=image_size, seed=0)
        n = len(rows)
        baseline_s = _plain_reencode([f"{tmp}/src/{r['path']}" for r in rows])
        ingest = ingest_rows(rows, root=f"{tmp}/src", out_path=f"{tmp}/raw.parquet",
                             quarantine_path=f"{tmp}/q.parquet")
        _one_caption_per_class(f"{tmp}/captions.parquet")
        cur = curate(f"{tmp}/raw.parquet", f"{tmp}/captions.parquet", f"{tmp}/pairs.parquet", f"{tmp}/log.parquet")
        export = bench_export(f"{tmp}/pairs.parquet", tmp, repeats=3)  # medians, as in bench/export_training.py
    figures = [
        ("ingest", "images/s", n / ingest["seconds"], "PIL decode + PNG encode", n / baseline_s),
        ("curation", "samples/s", cur["samples_in"] / cur["seconds"], "-", None),
        ("export", "MB/s", export["export_mb_s"], "plain sequential write of the same bytes", export["plain_mb_s"]),
    ]
    return {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "images": n, "image_size": image_size,
        "figures": [{"stage": s, "unit": u, "value": round(v, 1), "baseline": b,
                     "baseline_value": None if bv is None else round(bv, 1),
                     "ratio": None if bv is None else round(v / bv, 2)} for s, u, v, b, bv in figures],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--image-size", type=int, default=256)
    args = parser.parse_args()
    result = run(args.per_class, args.image_size)
    table = md_table([(f["stage"], f["unit"], f["value"], f["baseline"], f["baseline_value"] or "-", f["ratio"] or "-")
                      for f in result["figures"]], ("stage", "unit", "MedPairs", "baseline", "baseline value", "ratio"))
    write_results("data_stages", result, table + "\n")
    print(f"{result['images']} images at {result['image_size']} px on {result['machine']['cpus']} cores\n{table}")


if __name__ == "__main__":
    main()
