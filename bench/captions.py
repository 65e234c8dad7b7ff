"""Caption synthesis on CPU (SmolLM2-135M-Instruct through transformers): throughput by batch size
and torch threads against unbatched generation (batch 1) in the same run, and the quality of a
full run on the embedded default (every synthetic class, N captions each).

Throughput runs caption a fixed set of classes (the first class of every synthetic source,
`--per-class` captions, one round) so they do equal work; tokens/s counts generated tokens,
captions/s counts captions that pass validation. The quality run is what class_captions does by
default: 22 classes x 10 captions, up to 3 rounds, templates only for what is still missing.
Writes bench/results/captions.{json,md}. Usage:
    python -m bench.captions [--per-class 6] [--quality-per-class 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from datetime import datetime, timezone

from assets.captions.synthesize import synthesize_class_captions
from assets.shared.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES
from bench.output import write_results
from models.captioning.transformers_backend import TransformersBackend


def _throughput(batch_size: int, threads: int, per_class: int) -> dict:
    backend = TransformersBackend(batch_size=batch_size, num_threads=threads)
    sources = [dataclasses.replace(s, classes=s.classes[:1]) for s in SYNTHETIC_SOURCES]
    started = time.process_time()
    _, stats = synthesize_class_captions(backend, sources, captions_per_class=per_class, max_rounds=1, seed=0)
    cpu = time.process_time() - started
    return {"batch_size": batch_size, "threads": threads, "seconds": stats["seconds"], "cpu_seconds": round(cpu, 2),
            "tokens": stats["tokens_generated"], "tokens_per_s": stats["tokens_per_s"],
            "captions_per_s": stats["captions_per_s"], "generations_per_s": stats["generations_per_s"],
            "pass_rate": stats["pass_rate"]}


def _quality(per_class: int) -> dict:
    backend = TransformersBackend()
    _, stats = synthesize_class_captions(backend, list(SYNTHETIC_SOURCES), captions_per_class=per_class,
                                         max_rounds=3, seed=0)
    return {k: stats[k] for k in ("classes", "captions_per_class", "generated", "pass_rate", "valid", "valid_llm",
                                  "template_captions", "llm_fraction", "classes_short", "seconds", "tokens_per_s",
                                  "captions_per_s", "rejected_by_reason")}


def run(per_class: int, quality_per_class: int) -> dict:
    cores = os.cpu_count() or 1
    configs = [(1, 1), (8, 1), (32, 1)] + ([(32, cores)] if cores > 1 else [])
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": cores, "platform": platform.platform(), "python": platform.python_version()},
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "throughput": [_throughput(b, t, per_class) for b, t in configs],
    }
    base = results["throughput"][0]["tokens_per_s"]
    for row in results["throughput"]:
        row["speedup_vs_batch1"] = round(row["tokens_per_s"] / base, 2) if base and row["tokens_per_s"] else None
    results["quality"] = _quality(quality_per_class)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return results


def to_markdown(results: dict) -> str:
    speed = md_table([(r["batch_size"], r["threads"], r["tokens"], r["seconds"], r["tokens_per_s"], r["captions_per_s"],
                       r["pass_rate"], r["speedup_vs_batch1"]) for r in results["throughput"]],
                     ("batch", "threads", "tokens", "s", "tokens/s", "valid captions/s", "pass rate", "x batch 1"))
    q = results["quality"]
    quality = md_table([(q["classes"], q["captions_per_class"], q["generated"], q["pass_rate"], q["valid_llm"],
                         q["template_captions"], q["llm_fraction"], q["seconds"])],
                       ("classes", "N", "generated", "pass rate", "LLM captions kept", "template captions",
                        "LLM share of final", "s"))
    return (f"Load average {results['load_average_before']} -> {results['load_average_after']}\n\n{speed}\n\n"
            f"{quality}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--quality-per-class", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = run(args.per_class, args.quality_per_class)
    markdown = to_markdown(results)
    write_results("captions", results, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
