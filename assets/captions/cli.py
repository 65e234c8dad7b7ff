"""Try the caption writers from the command line, outside the pipeline: class captions for the
embedded synthetic sources, or captions cleaned from the radiology reports of an NLMCXR (Open-i)
archive (optionally condensed by the LLM). Prints throughput, reasons and a sample of kept and
rejected captions.

    HF_HUB_OFFLINE=1 python -m assets.captions.cli --per-class 10 --out /tmp/class_captions.jsonl
    python -m assets.captions.cli --backend http --base-url http://127.0.0.1:8000 \
        --model-name SmolLM2-135M-Instruct.Q4_1.gguf          # against `python -m models.captioning.serve`
    python -m assets.captions.cli --reports NLMCXR_reports.tgz [--condense] [--limit 200]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import time
from itertools import islice

from assets.captions.condense import condense_texts
from assets.captions.report_text import caption_reports, iter_nlmcxr_reports
from assets.captions.synthesize import synthesize_class_captions
from assets.sources.synthetic import SYNTHETIC_SOURCES
from models.captioning.backends import BACKENDS, build_backend


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="transformers", choices=sorted(BACKENDS))
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--max-rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads of each process (default: 1 "
                        "where there are several processes, else half the cores)")
    parser.add_argument("--processes", type=int, default=None, help="transformers backend: processes that each "
                        "write a share of every request (default: the backend's)")
    parser.add_argument("--cache-dir", default=None, help="keep de-quantized GGUF weights here")
    parser.add_argument("--quantize", default=None, choices=["none", "int8"], help="transformers backend: "
                        "int8 Linear layers (default: the backend's)")
    parser.add_argument("--base-url", default="", help="http backend: the server root")
    parser.add_argument("--model-name", default="", help="http backend: the model the server serves")
    parser.add_argument("--max-concurrency", type=int, default=8, help="http backend: requests in flight")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm backend: GPUs per model")
    parser.add_argument("--reports", metavar="TGZ", help="instead of class captions: clean the reports of this "
                        "NLMCXR_reports.tgz (torchxrayvision ships one) into captions")
    parser.add_argument("--condense", action="store_true", help="with --reports: also condense each cleaned "
                        "report with the LLM; a condensed caption that drops or flips a finding is not used")
    parser.add_argument("--limit", type=int, default=None, help="with --reports: the first N reports only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=12, help="accepted and rejected captions to print")
    parser.add_argument("--out", default=None, help="write all rows here as JSON lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    started = time.perf_counter()
    if args.reports:
        rows, stats = _report_captions(args)
    else:
        backend = _backend(args)
        stats = {"load_seconds": round(time.perf_counter() - started, 2)}
        rows, more = synthesize_class_captions(backend, list(SYNTHETIC_SOURCES), captions_per_class=args.per_class,
                                               max_rounds=args.max_rounds, seed=args.seed)
        stats = {**more, **stats}
    stats["wall_seconds"] = round(time.perf_counter() - started, 2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    rng = random.Random(args.seed)
    for status in ("valid", "rejected"):
        chosen = [r for r in rows if r["status"] == status and r["origin"] != "template"]
        print(f"\n--- {status} (sample of {min(args.sample, len(chosen))} of {len(chosen)})")
        for r in rng.sample(chosen, min(args.sample, len(chosen))):
            print(f"[{r.get('modality', 'xray')}/{r.get('label') or r.get('report_id')}] {r['caption']}"
                  + (f"   <- {r['reason']}" if r["reason"] else ""))
    print("\n" + json.dumps({k: v for k, v in stats.items() if k != "template_fallbacks"}, indent=1))
    return stats


def _backend(args):
    options = {
        "transformers": {"model_path": args.model_path, "batch_size": args.batch_size, "num_threads": args.threads,
                         "cache_dir": args.cache_dir, "quantize": args.quantize, "processes": args.processes},
        "vllm": {"model_path": args.model_path, "tensor_parallel_size": args.tensor_parallel_size,
                 "cache_dir": args.cache_dir},
        "http": {"base_url": args.base_url, "model_name": args.model_name,
                 "api_key": os.environ.get("MEDPAIRS_LLM_API_KEY"), "max_concurrency": args.max_concurrency},
    }[args.backend]
    return build_backend(args.backend, options)


def _report_captions(args) -> tuple[list[dict], dict]:
    """Rows of cleaned (and with --condense, condensed) report captions, with status and origin."""
    rows, stats = caption_reports(islice(iter_nlmcxr_reports(args.reports), args.limit))
    for row in rows:
        row.update(status="valid" if row["caption"] else "rejected", origin="cleaned")
    if args.condense:
        kept = [r for r in rows if r["caption"]]
        condensed = condense_texts(_backend(args), [r["caption"] for r in kept], "xray", seed=args.seed)
        for row, result in zip(kept, condensed, strict=True):
            row.update(caption=result["caption"], origin="condensed" if result["origin"] == "llm" else "cleaned",
                       condense_reason=result["reason"])
        stats["condensed"] = sum(r["origin"] == "condensed" for r in rows)
    return rows, stats


if __name__ == "__main__":
    main()
