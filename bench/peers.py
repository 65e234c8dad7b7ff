"""MedPairs beside the tools people use instead of it, on the same files in the same run.

- **img2dataset** on the same local PNGs as `file://` URLs (a txt URL list), WebDataset output, 512 px max
  side (keep_ratio, only if bigger), PNG encoding, 1 process, 2 threads; against MedPairs' ingest
  (`ingest_source`, workers=1) plus WebDataset export (`export_shards`) of the ingested samples.
  Images/s per core: images over the CPU seconds of this process and its children.
- **A perceptual-hash near-duplicate script**: `imagehash.phash` over the images, then pairwise Hamming
  distances of ImageHash objects in a Python loop over a sample of hashes, extrapolated quadratically to
  100k and 1M; against `assets.curation.near_dups.find_near_pairs` on the same image hashes and on random
  hashes at 1M (`bench.curation.near_dup_run`).

Writes bench/results/peers.{json,md}. Needs the `bench` extra (img2dataset, imagehash). Usage:
    python -m bench.peers [--images 1000] [--hash-sample 2000] [--radius 4] [--search-n 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.shared.images import encode_png
from assets.shared.metadata import md_table
from assets.sources.synthetic import draw_class
from bench.output import write_results


def _cpu() -> float:
    """CPU seconds of this process plus its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def make_images(folder: str, n: int, image_size: int = 256) -> list[dict]:
    """n PNGs of the synthetic x-ray classes in `folder`; rows {path, source, modality, label, split}."""
    rng = np.random.default_rng(0)
    rows, classes = [], 4
    for ci in range(classes):
        count = n // classes + (ci < n % classes)
        for i, pixels in enumerate(draw_class("xray", ci, count, image_size, rng)):
            path = f"c{ci}_{i:05d}.png"
            with open(os.path.join(folder, path), "wb") as f:
                f.write(encode_png(pixels))
            rows.append({"path": path, "source": "peers", "modality": "xray", "label": f"class {ci}",
                         "split": "train"})
    return rows


def run_img2dataset(folder: str, rows: list[dict], out: str) -> dict:
    from img2dataset import download

    os.makedirs(out, exist_ok=True)
    url_list = os.path.join(out, "urls.txt")
    with open(url_list, "w") as f:
        f.writelines(f"file://{os.path.join(folder, r['path'])}\n" for r in rows)
    t0, c0 = time.perf_counter(), _cpu()
    download(url_list=url_list, input_format="txt", output_folder=os.path.join(out, "shards"),
             output_format="webdataset", image_size=512, resize_mode="keep_ratio", resize_only_if_bigger=True,
             encode_format="png", encode_quality=1, processes_count=1, thread_count=2, number_sample_per_shard=1000,
             enable_wandb=False)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    stats = [json.load(open(os.path.join(out, "shards", p)))
             for p in os.listdir(os.path.join(out, "shards")) if p.endswith("_stats.json")]
    ok = sum(s["successes"] for s in stats)
    # The worker's own span (its shard's start to end), without process start and imports.
    worker_s = max(s["end_time"] for s in stats) - min(s["start_time"] for s in stats)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "images": ok,
            "worker_seconds": round(worker_s, 3), "worker_images_per_s": round(ok / worker_s, 1)}


def run_medpairs(folder: str, rows: list[dict], out: str) -> dict:
    from assets.export.webdataset import export_shards
    from assets.ingest.chunked import ingest_source

    t0, c0 = time.perf_counter(), _cpu()
    ingest_source(rows, root=folder, out_dir=f"{out}/raw", quarantine_dir=f"{out}/q", workers=1, max_side=512,
                  output_format="png")
    t_ingest = time.perf_counter() - t0
    # The curated-pairs columns export reads: the ingested samples with one caption list each.
    raw = pq.read_table(f"{out}/raw")
    captions = pa.array([[f"An x-ray showing {label}."] for label in raw["label"].to_pylist()], pa.list_(pa.string()))
    pairs = raw.append_column("captions", captions).filter(pc.is_valid(raw["image"]))
    pq.write_table(pairs, f"{out}/pairs.parquet")
    stats = export_shards(f"{out}/pairs.parquet", f"{out}/shards", split="train", resume=False)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "ingest_seconds": round(t_ingest, 2),
            "images": stats["rows_read"] - sum(stats["skipped"].values())}


def phash_peer(folder: str, rows: list[dict], sample: int, radius: int, targets: list[int]) -> dict:
    """imagehash.phash over the images, then a Python pairwise loop on `sample` hashes, extrapolated."""
    import imagehash
    from PIL import Image

    t0 = time.perf_counter()
    hashes = []
    for r in rows:
        with Image.open(os.path.join(folder, r["path"])) as im:
            hashes.append(imagehash.phash(im))
    hash_s = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    pool = hashes + [imagehash.hex_to_hash(f"{int(x):016x}")
                     for x in rng.integers(0, 2**63, max(0, sample - len(hashes)), dtype=np.int64)]
    pool = pool[:sample]
    t0, found = time.perf_counter(), 0
    for i in range(len(pool)):
        hi = pool[i]
        for j in range(i + 1, len(pool)):
            if hi - pool[j] <= radius:
                found += 1
    pair_s = time.perf_counter() - t0
    per_pair = pair_s / (len(pool) * (len(pool) - 1) / 2)
    return {"images": len(rows), "phash_seconds": round(hash_s, 3), "phash_per_s": round(len(rows) / hash_s, 1),
            "sample": len(pool), "pairwise_seconds": round(pair_s, 2), "pairs_found": found,
            "extrapolated_seconds": {str(n): round(per_pair * n * (n - 1) / 2) for n in targets},
            "hashes": np.array([int(str(h), 16) for h in hashes], dtype=np.uint64).view(np.int64)}


def medpairs_search(hashes: np.ndarray, radius: int) -> dict:
    import duckdb

    from assets.curation.near_dups import find_near_pairs
    con = duckdb.connect(config={"threads": 2})
    uniq = np.unique(hashes)
    con.register("h", pa.table({"node": np.arange(len(uniq), dtype=np.uint32), "phash": uniq}))
    con.execute("CREATE TEMP TABLE phash_nodes AS SELECT * FROM h")
    t0 = time.perf_counter()
    stats = find_near_pairs(con, radius)
    return {"hashes": len(uniq), "seconds": round(time.perf_counter() - t0, 3), "pairs": stats["pairs"]}


def run(n_images: int, sample: int, radius: int, search_n: int) -> dict:
    from bench.curation import near_dup_run

    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(f"{tmp}/img")
        rows = make_images(f"{tmp}/img", n_images)
        i2d = run_img2dataset(f"{tmp}/img", rows, f"{tmp}/i2d")
        ours = run_medpairs(f"{tmp}/img", rows, f"{tmp}/mp")
        ph = phash_peer(f"{tmp}/img", rows, sample, radius, [100_000, search_n])
    search_images = medpairs_search(ph.pop("hashes"), radius)
    search_big = near_dup_run(search_n, radius)
    for r in (i2d, ours):
        r["images_per_cpu_s"] = round(r["images"] / r["cpu_seconds"], 1)
        r["images_per_s"] = round(r["images"] / r["seconds"], 1)
    sample_pairwise_s = ph["pairwise_seconds"] * (len(rows) * (len(rows) - 1)) / (ph["sample"] * (ph["sample"] - 1))
    big_base = ph["extrapolated_seconds"][str(search_n)]
    figures = [
        ("ingest + export, images/s per core", ours["images_per_cpu_s"], "img2dataset, 1 process",
         i2d["images_per_cpu_s"]),
        ("ingest + export, images/s (wall)", ours["images_per_s"], "img2dataset, 1 process", i2d["images_per_s"]),
        ("ingest + export, images/s (wall)", ours["images_per_s"], "img2dataset worker alone (no start-up)",
         i2d["worker_images_per_s"]),
        (f"near-dup search, s, {len(rows)} image hashes", search_images["seconds"],
         "imagehash pairwise loop (extrapolated from the sample)", round(sample_pairwise_s, 3)),
        (f"near-dup search, s, {search_n:,} random hashes", search_big["seconds"],
         "imagehash pairwise loop, extrapolated", big_base),
    ]
    return {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_average_before": load,
        "images": n_images, "image_size": 256, "radius": radius,
        "img2dataset": i2d, "medpairs": ours, "imagehash": ph, "near_dups_images": search_images,
        "near_dups_random": {k: search_big[k] for k in ("n", "seconds", "pairs", "keys", "peak_rss_mb")},
        # ratio > 1 means MedPairs is better: more images per second, or fewer seconds.
        "figures": [{"stage": s, "unit": "", "value": v, "baseline": b, "baseline_value": bv,
                     "ratio": round(v / bv, 2) if "images/s" in s else round(bv / max(v, 1e-9), 1)}
                    for s, v, b, bv in figures],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="256 px PNGs generated for both tools")
    parser.add_argument("--hash-sample", type=int, default=2000, help="hashes in the pairwise-loop baseline")
    parser.add_argument("--radius", type=int, default=4)
    parser.add_argument("--search-n", type=int, default=1_000_000, help="random hashes for the large search")
    args = parser.parse_args()
    result = run(args.images, args.hash_sample, args.radius, args.search_n)
    table = md_table([(f["stage"], f["value"], f["baseline"], f["baseline_value"], f["ratio"])
                      for f in result["figures"]],
                     ("figure", "MedPairs", "peer", "peer value", "ratio (MedPairs better > 1)"))
    write_results("peers", result, table + "\n")
    print(f"{args.images} images at 256 px on {os.cpu_count()} cores, load {result['load_average_before']}\n{table}")


if __name__ == "__main__":
    main()
