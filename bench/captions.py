"""Caption synthesis on CPU (SmolLM2-135M-Instruct through transformers): throughput by batch size
and torch threads against unbatched generation (batch 1) in the same run, the levers of the
caption step against one process of one thread (int8 Linear layers, a shorter token budget, threads,
a larger batch, 2 processes),
and the quality of a full run on the embedded default (every synthetic class, N captions each).

Lever runs caption every synthetic class, `--lever-per-class` captions, one round, the model loaded
before the clock starts; the baseline runs first and again last, and each lever's ratio is
against the mean of the two (the machine's load drifts).
Throughput runs caption a fixed set of classes (the first class of every synthetic source,
`--per-class` captions, one round) so they do equal work; tokens/s counts generated tokens,
captions/s counts captions that pass validation. The quality run is what class_captions does by
default: 22 classes x 10 captions, up to 3 rounds, templates only for what is still missing.
Writes bench/results/captions.{json,md}. Usage:
    python -m bench.captions [--per-class 6] [--lever-per-class 3] [--quality-per-class 10] [--only levers]
        [--lever "batch 48" ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
from datetime import datetime, timezone

from assets.captions.synthesize import synthesize_class_captions
from assets.shared.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES
from bench.output import write_results
from models.captioning.transformers_backend import TransformersBackend


def _throughput(batch_size: int, threads: int, per_class: int) -> dict:
    backend = TransformersBackend(batch_size=batch_size, num_threads=threads, processes=1)
    sources = [dataclasses.replace(s, classes=s.classes[:1]) for s in SYNTHETIC_SOURCES]
    started = time.process_time()
    _, stats = synthesize_class_captions(backend, sources, captions_per_class=per_class, max_rounds=1, seed=0)
    cpu = time.process_time() - started
    return {"batch_size": batch_size, "threads": threads, "seconds": stats["seconds"], "cpu_seconds": round(cpu, 2),
            "tokens": stats["tokens_generated"], "tokens_per_s": stats["tokens_per_s"],
            "captions_per_s": stats["captions_per_s"], "generations_per_s": stats["generations_per_s"],
            "pass_rate": stats["pass_rate"]}


# (lever, backend options, generation options): each changes one thing of CURRENT (one process of one
# thread), the baseline of every ratio; class_captions' default is the lever "2 processes of 1 thread, batch 16".
CURRENT = ("1 process (batch 16, 1 thread, 48 tokens, float32)", {"batch_size": 16, "num_threads": 1, "processes": 1},
           {"max_new_tokens": 48})
LEVERS = [
    ("int8 Linear layers", {**CURRENT[1], "quantize": "int8"}, {"max_new_tokens": 48}),
    ("max_new_tokens 32", CURRENT[1], {"max_new_tokens": 32}),
    ("2 threads", {**CURRENT[1], "num_threads": 2}, {"max_new_tokens": 48}),
    ("batch 48", {**CURRENT[1], "batch_size": 48}, {"max_new_tokens": 48}),
    ("2 processes of 1 thread, batch 16", {**CURRENT[1], "processes": 2},
     {"max_new_tokens": 48}),
    ("2 processes of 1 thread, batch 48", {**CURRENT[1], "processes": 2, "batch_size": 48}, {"max_new_tokens": 48}),
]


def _lever(name: str, backend_options: dict, generation: dict, per_class: int, cache_dir: str) -> dict:
    backend = TransformersBackend(cache_dir=cache_dir, **backend_options)
    try:
        _, stats = synthesize_class_captions(backend, list(SYNTHETIC_SOURCES), captions_per_class=per_class,
                                             max_rounds=1, seed=0, **generation)
    finally:
        backend.close()
    return {"lever": name, "generated": stats["generated"], "seconds": stats["seconds"],
            "tokens": stats["tokens_generated"], "generations_per_s": stats["generations_per_s"],
            "captions_per_s": stats["captions_per_s"], "pass_rate": stats["pass_rate"],
            "rejected_by_reason": stats["rejected_by_reason"]}


def levers(per_class: int, names: list[str] | None = None) -> list[dict]:
    """Every lever (those whose name holds one of `names`, if given) and the baseline (first and
    last), with ratios against the baseline."""
    chosen = [lever for lever in LEVERS if not names or any(n in lever[0] for n in names)]
    with tempfile.TemporaryDirectory() as cache_dir:
        rows = [_lever(*CURRENT, per_class, cache_dir)]
        rows += [_lever(*lever, per_class, cache_dir) for lever in chosen]
        rows.append(_lever(*CURRENT, per_class, cache_dir))
    base = {k: (rows[0][k] + rows[-1][k]) / 2 for k in ("generations_per_s", "captions_per_s", "pass_rate")}
    for row in rows:
        row["x_generations_per_s"] = round(row["generations_per_s"] / base["generations_per_s"], 2)
        row["x_valid_captions_per_s"] = round(row["captions_per_s"] / base["captions_per_s"], 2)
        row["pass_rate_vs_current"] = round(row["pass_rate"] - base["pass_rate"], 3)
    return rows


def _quality(per_class: int) -> dict:
    backend = TransformersBackend()  # class_captions' default
    try:
        _, stats = synthesize_class_captions(backend, list(SYNTHETIC_SOURCES), captions_per_class=per_class,
                                             max_rounds=3, seed=0)
    finally:
        backend.close()
    return {k: stats[k] for k in ("classes", "captions_per_class", "generated", "pass_rate", "valid", "valid_llm",
                                  "template_captions", "llm_fraction", "classes_short", "seconds", "tokens_per_s",
                                  "captions_per_s", "rejected_by_reason")}


def throughput(per_class: int) -> list[dict]:
    cores = os.cpu_count() or 1
    configs = [(1, 1), (8, 1), (32, 1)] + ([(32, cores)] if cores > 1 else [])
    rows = [_throughput(b, t, per_class) for b, t in configs]
    base = rows[0]["tokens_per_s"]
    for row in rows:
        row["speedup_vs_batch1"] = round(row["tokens_per_s"] / base, 2) if base and row["tokens_per_s"] else None
    return rows


def run(per_class: int, lever_per_class: int, quality_per_class: int, only: list[str],
        lever_names: list[str] | None = None) -> dict:
    parts = {"throughput": lambda: throughput(per_class), "levers": lambda: levers(lever_per_class, lever_names),
             "quality": lambda: _quality(quality_per_class)}
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    for name in only or parts:
        results[name] = parts[name]()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return results


def to_markdown(results: dict) -> str:
    tables = []
    if "throughput" in results:
        tables.append(md_table([(r["batch_size"], r["threads"], r["tokens"], r["seconds"], r["tokens_per_s"],
                                 r["captions_per_s"], r["pass_rate"], r["speedup_vs_batch1"])
                                for r in results["throughput"]],
                               ("batch", "threads", "tokens", "s", "tokens/s", "valid captions/s", "pass rate",
                                "x batch 1")))
    if "levers" in results:
        tables.append(md_table([(r["lever"], r["generated"], r["tokens"], r["seconds"], r["pass_rate"],
                                 r["x_generations_per_s"], r["x_valid_captions_per_s"]) for r in results["levers"]],
                               ("lever", "generated", "tokens", "s", "pass rate", "x generations/s",
                                "x valid captions/s")))
    if "quality" in results:
        q = results["quality"]
        tables.append(md_table([(q["classes"], q["captions_per_class"], q["generated"], q["pass_rate"], q["valid_llm"],
                                 q["template_captions"], q["llm_fraction"], q["seconds"])],
                               ("classes", "N", "generated", "pass rate", "LLM captions kept", "template captions",
                                "LLM share of final", "s")))
    return f"Load average {results['load_average_before']} -> {results['load_average_after']}\n\n" + \
        "\n\n".join(tables) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--lever-per-class", type=int, default=3)
    parser.add_argument("--quality-per-class", type=int, default=10)
    parser.add_argument("--only", action="append", choices=["throughput", "levers", "quality"], default=[])
    parser.add_argument("--lever", action="append", default=[], help="only the levers whose name holds this")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = run(args.per_class, args.lever_per_class, args.quality_per_class, args.only, args.lever)
    markdown = to_markdown(results)
    write_results("captions", results, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
