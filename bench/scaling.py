"""How the data stages scale: ingest -> curation -> export on 1k, 10k (and optionally 100k) generated samples.

The synthetic sources are generated at 64 px (`generate_synthetic_dataset`), ingested with
`ingest_source` (1 worker), curated with `curate` (one template caption per class) and exported with
`export_shards`. For each size: seconds per stage and samples/s. The curve is called close to linear
when each stage's time per sample stays within +-25% of its value at the smallest size (the 1k run is
dominated by fixed costs, so the check is also given from the second size on). Writes
bench/results/scaling.{json,md}. Usage:
    python -m bench.scaling [--max 100000]     # the 100k run takes about 2.5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone

from assets.curation.curate import curate
from assets.export.webdataset import export_shards
from assets.ingest.chunked import ingest_source
from assets.shared.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES, generate_synthetic_dataset
from bench.data_stages import _one_caption_per_class
from bench.output import write_results

SIZES = [1_000, 10_000, 100_000]
STAGES = ("ingest", "curation", "export")


def run_size(n: int, image_size: int = 64) -> dict:
    classes = sum(len(s.classes) for s in SYNTHETIC_SOURCES)
    per_class = max(1, round(n / classes / 1.25))  # train + test (a quarter of train) per class
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rows, _ = generate_synthetic_dataset(f"{tmp}/src", train_per_class=per_class,
                                             test_per_class=max(1, per_class // 4), image_size=image_size, seed=0)
        generate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ingest_source(rows, root=f"{tmp}/src", out_dir=f"{tmp}/raw", quarantine_dir=f"{tmp}/q", workers=1)
        ingest_s = time.perf_counter() - t0
        _one_caption_per_class(f"{tmp}/captions.parquet")
        t0 = time.perf_counter()
        cur = curate(sorted(glob.glob(f"{tmp}/raw/*.parquet")), f"{tmp}/captions.parquet", f"{tmp}/pairs.parquet",
                     f"{tmp}/log.parquet")
        curate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        exp = export_shards(f"{tmp}/pairs.parquet", f"{tmp}/shards", split="train", resume=False)
        export_s = time.perf_counter() - t0
    seconds = dict(zip(STAGES, (ingest_s, curate_s, export_s)))
    return {"samples": len(rows), "image_size": image_size, "generate_seconds": round(generate_s, 2),
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "samples_per_s": {k: round(len(rows) / v, 1) for k, v in seconds.items()},
            "us_per_sample": {k: round(1e6 * v / len(rows), 1) for k, v in seconds.items()},
            "curated_pairs": cur.get("kept"), "exported": exp["rows_read"] - sum(exp["skipped"].values()),
            "load_1min": round(os.getloadavg()[0], 2)}


def linearity(runs: list[dict], start: int = 0) -> dict:
    """Per stage, time per sample against that at runs[start]: the largest deviation either way (signed),
    whether every size is within 25% (close to linear), and whether it never grows by more than 25%
    (no worse than linear: fixed costs make small runs dearer per sample)."""
    out = {}
    for stage in STAGES:
        base = runs[start]["us_per_sample"][stage]
        devs = [r["us_per_sample"][stage] / base - 1 for r in runs[start:]]
        worst = max(devs, key=abs)
        out[stage] = {"max_deviation": round(worst, 3), "within_25pct": abs(worst) <= 0.25,
                      "max_growth": round(max(devs), 3), "no_worse_than_linear": max(devs) <= 0.25}
    return out


def run(sizes: list[int]) -> dict:
    load = [round(x, 2) for x in os.getloadavg()]
    runs = []
    for n in sizes:
        runs.append(run_size(n))
        print(json.dumps(runs[-1]), flush=True)
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_average_before": load,
              "runs": runs, "linearity": linearity(runs)}
    if len(runs) > 2:
        result["linearity_from_second_size"] = linearity(runs, 1)
    # Figures for the page: each stage at the largest size, its per-sample time against the smallest size's.
    result["figures"] = [{"stage": f"{s} at {runs[-1]['samples']:,}", "unit": "samples/s",
                          "value": runs[-1]["samples_per_s"][s], "baseline": f"same stage at {runs[0]['samples']:,}",
                          "baseline_value": runs[0]["samples_per_s"][s],
                          "ratio": round(runs[-1]["samples_per_s"][s] / runs[0]["samples_per_s"][s], 2)}
                         for s in STAGES]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max", type=int, default=100_000, help="largest size run (1000, 10000 or 100000)")
    args = parser.parse_args()
    result = run([n for n in SIZES if n <= args.max] or [args.max])
    rows = [(r["samples"], *(r["seconds"][s] for s in STAGES), *(r["samples_per_s"][s] for s in STAGES))
            for r in result["runs"]]
    table = md_table(rows, ("samples", *(f"{s} s" for s in STAGES), *(f"{s} samples/s" for s in STAGES)))
    def describe(lin: dict) -> str:
        def one(s: str, v: dict) -> str:
            verdict = "within 25%" if v["within_25pct"] else "not within 25%"
            if not v["within_25pct"] and v["no_worse_than_linear"]:
                verdict += ", cheaper per sample when larger"
            return f"{s} {v['max_deviation']:+.0%} ({verdict})"
        return ", ".join(one(s, v) for s, v in lin.items())
    text = f"{table}\n\nLargest deviation of time per sample from the smallest size: {describe(result['linearity'])}\n"
    if "linearity_from_second_size" in result:
        text += f"From the second size on: {describe(result['linearity_from_second_size'])}\n"
    write_results("scaling", result, text)
    print(text)


if __name__ == "__main__":
    main()
