"""Ingest throughput per core and with two worker processes, and its peak memory, on generated images.

Image sets, written to a temporary folder:
- png256, jpeg256: the synthetic drawings of all six modalities (`draw_class` in
  assets/sources/synthetic.py; gray and RGB) at 256 px, saved as PNG (Pillow's defaults) and as
  JPEG (quality 90);
- gray16_1024: 1024 px 16-bit grayscale PNGs: six x-ray, CT and MRI drawings at 1024 px scaled to
  12 bits, plus Gaussian detector noise (sigma 6 of 4095) drawn anew for every image.

`ingest_source` (default max_side 512, eight parts) runs with workers=1 and workers=2, beside a plain
PIL decode + PNG encode loop over the same files in the same run. Each rate is given per second of
wall time and per second of CPU time (this process and its workers): on a shared machine the
second is the per-core rate. workers=2 includes starting two processes, also timed alone.
Peak memory: the maximum RSS during `ingest_source` in a fresh process, over N and over 4N rows
read lazily from a manifest, cut into parts smaller than N (Linux).
Writes bench/results/ingest.{json,md} and prints the tables. Usage:
    python -m bench.ingest [--images N] [--deep-images N]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import re
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from multiprocessing import get_context

import numpy as np
from PIL import Image

from assets.ingest.chunked import ingest_source
from assets.shared.metadata import md_table
from assets.sources.synthetic import draw_class
from bench.output import write_results

MODALITIES = ("xray", "ct", "mri", "ultrasound", "pathology", "fundus")
# Images per second per core that ingest should reach (default max_side 512).
TARGETS = {"png256": 300, "jpeg256": 300, "gray16_1024": 40}


def _save(pixels: np.ndarray, path: str, fmt: str, **options) -> None:
    Image.fromarray(pixels).save(path, format=fmt, **options)


def write_sets(root: str, n: int, n_deep: int, seed: int = 0) -> dict[str, list[dict]]:
    """Writes the image sets under `root`; returns the rows of each set (paths relative to root)."""
    rng = np.random.default_rng(seed)
    sets: dict[str, list[dict]] = {"png256": [], "jpeg256": [], "gray16_1024": []}
    for name in sets:
        os.makedirs(f"{root}/{name}", exist_ok=True)
    per = math.ceil(n / len(MODALITIES))
    drawn = [(modality, pixels) for modality in MODALITIES for pixels in draw_class(modality, 1, per, 256, rng)]
    for k, (modality, pixels) in enumerate(drawn[:n]):
        for name, ext, fmt, options in (("png256", "png", "PNG", {}), ("jpeg256", "jpg", "JPEG", {"quality": 90})):
            _save(pixels, f"{root}/{name}/{k:05d}.{ext}", fmt, **options)
            sets[name].append({"path": f"{name}/{k:05d}.{ext}", "source": name, "modality": modality})
    drawings = [(m, draw_class(m, c, 1, 1024, rng)[0].astype(np.float64) * (4095 / 255))
                for m in ("xray", "ct", "mri") for c in (0, 1)]
    for k in range(n_deep):
        modality, drawing = drawings[k % len(drawings)]
        noisy = np.clip(np.rint(drawing + rng.normal(0, 6, drawing.shape)), 0, 4095).astype(np.uint16)
        _save(noisy, f"{root}/gray16_1024/{k:05d}.png", "PNG")
        sets["gray16_1024"].append({"path": f"gray16_1024/{k:05d}.png", "source": "gray16_1024", "modality": modality})
    return sets


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn, count: int) -> dict:
    """Images per second of wall time and per second of CPU time (the per-core rate, whatever else
    the machine is running) of fn() over `count` images."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    fn()
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    return {"seconds": round(wall, 3), "images_per_s": round(count / wall, 1),
            "images_per_cpu_s": round(count / cpu, 1)}


def plain_reencode(root: str, rows: list[dict]) -> None:
    """PIL decode + PNG encode (Pillow's defaults) of every image, in this process."""
    for row in rows:
        with Image.open(f"{root}/{row['path']}") as im:
            im.load()
            im.save(io.BytesIO(), format="PNG")


def ingest(root: str, rows: list[dict], out: str, workers: int, parts: int = 8) -> None:
    stats = ingest_source(rows, root=root, out_dir=f"{out}/samples", quarantine_dir=f"{out}/quarantine",
                          chunk_rows=math.ceil(len(rows) / parts), workers=workers)
    assert stats["ingested"] == len(rows), stats["quarantine_reasons"]


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+) kB", f.read()).group(1)) / 1024


def _peak_rss_child(root: str, manifest: str, out: str, chunk_rows: int, batch_size: int) -> tuple[float, float]:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux: the peak RSS restarts from the current RSS
    before = _rss_mb("VmRSS")
    with open(manifest) as f:
        ingest_source((json.loads(line) for line in f), root=root, out_dir=f"{out}/samples",
                      quarantine_dir=f"{out}/quarantine", chunk_rows=chunk_rows, batch_size=batch_size)
    return before, _rss_mb("VmHWM")


def peak_rss(root: str, rows: list[dict], tmp: str, chunk_rows: int, batch_size: int) -> dict:
    """RSS (MB) of a fresh process before ingest_source over `rows` (read lazily from a manifest),
    and its peak during it (Linux /proc)."""
    manifest = f"{tmp}/manifest-{len(rows)}.jsonl"
    with open(manifest, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        before, after = pool.submit(_peak_rss_child, root, manifest, f"{tmp}/rss-{len(rows)}", chunk_rows,
                                    batch_size).result()
    return {"rows": len(rows), "chunk_rows": chunk_rows, "batch_size": batch_size,
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(after, 1)}


def run(n: int, n_deep: int) -> dict:
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()], "sets": [], "memory": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = f"{tmp}/src"
        sets = write_sets(root, n, n_deep)
        ingest(root, sets["png256"][:8], f"{tmp}/warm-up", workers=1)  # one-time imports, not timed
        for name, rows in sets.items():
            one = timed(lambda: ingest(root, rows, f"{tmp}/{name}-1", workers=1), len(rows))
            two = timed(lambda: ingest(root, rows, f"{tmp}/{name}-2", workers=2), len(rows))
            # Two processes started, each ingesting one row: the start-up included in `two`.
            startup = timed(lambda: ingest(root, rows[:2], f"{tmp}/{name}-start", workers=2, parts=2), 2)
            plain_rows = rows[: max(len(rows) // 4, 10)]
            plain = timed(lambda: plain_reencode(root, plain_rows), len(plain_rows))
            result["sets"].append({
                "images": name, "count": len(rows), "workers1": one, "workers2": two,
                "scaling": round(two["images_per_s"] / one["images_per_s"], 2),
                "workers2_startup_s": startup["seconds"],
                # workers=2 images/s with the start-up taken out, over workers=1 images/s.
                "scaling_after_startup": round(len(rows) / max(two["seconds"] - startup["seconds"], 1e-3)
                                               / one["images_per_s"], 2),
                "plain_pil": plain,
                "vs_plain_cpu": round(one["images_per_cpu_s"] / plain["images_per_cpu_s"], 2),
                "target_per_core": TARGETS[name], "meets_target": one["images_per_cpu_s"] >= TARGETS[name],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            })
        # N (every fourth row: the same mix of images) and 4N rows, in parts smaller than N; then 4N
        # with the default chunk_rows and batch_size (one part): memory follows batch_size, not rows.
        mixed, deep = sets["png256"] + sets["jpeg256"], sets["gray16_1024"]
        for name, rows, chunk_rows, batch_size in (
            ("png256+jpeg256", mixed[::4], 200, 50), ("png256+jpeg256", mixed, 200, 50),
            ("png256+jpeg256", mixed, 20000, 512), ("gray16_1024", deep[::4], 8, 4), ("gray16_1024", deep, 8, 4),
        ):
            result["memory"].append({"images": name, **peak_rss(root, rows, tmp, chunk_rows, batch_size)})
    return result


def tables(result: dict) -> str:
    speed = md_table([map(str, (s["images"], s["count"], s["workers1"]["images_per_s"],
                                s["workers1"]["images_per_cpu_s"], s["workers2"]["images_per_s"], s["scaling"],
                                s["workers2_startup_s"], s["scaling_after_startup"], s["plain_pil"]["images_per_s"],
                                s["plain_pil"]["images_per_cpu_s"], s["vs_plain_cpu"], s["target_per_core"],
                                "yes" if s["meets_target"] else "no")) for s in result["sets"]],
                     ("images", "count", "workers=1 images/s", "workers=1 images/CPU-s (per core)",
                      "workers=2 images/s", "scaling", "workers=2 start-up s",
                      "scaling without start-up", "PIL decode+PNG encode images/s",
                      "PIL images/CPU-s", "ingest/PIL per CPU-s", "target per core", "met"))
    memory = md_table([map(str, (m["images"], m["rows"], m["chunk_rows"], m["batch_size"], m["rss_before_mb"],
                                 m["peak_rss_mb"])) for m in result["memory"]],
                      ("images", "rows", "chunk_rows", "batch_size", "RSS before MB", "peak RSS MB"))
    return f"{speed}\n\n{memory}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1200, help="images in each 256 px set")
    parser.add_argument("--deep-images", type=int, default=96, help="1024 px 16-bit images")
    args = parser.parse_args()
    result = run(args.images, args.deep_images)
    text = tables(result)
    write_results("ingest", result, text + "\n")
    print(f"ingest on {result['machine']['cpus']} cores, load average before {result['load_average_before']}\n{text}")


if __name__ == "__main__":
    main()
