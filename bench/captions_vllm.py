"""vLLM against the transformers backend on the same caption prompts: the first class of every
synthetic source, `--per-class` captions each, one round, validated as class_captions validates.

vLLM runs as class_captions runs it with `backend: vllm`: its OpenAI-compatible server from the vLLM
environment (.venv-vllm: `make setup-vllm`, the CPU build; on a GPU machine `make setup-vllm
VLLM_BUILD=gpu` and `--gpu-memory-utilization 0.85`), spoken to by the http backend; the transformers
backend runs in this process. Each model is loaded before the clock starts (load seconds are reported
apart). tokens/s counts generated tokens, valid captions/s the captions that pass validation.
Writes bench/results/captions_vllm.{json,md}. Usage:
    python -m bench.captions_vllm [--per-class 4] [--gpu-memory-utilization 0.1]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from assets.captions.synthesize import synthesize_class_captions
from assets.shared.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES
from bench.output import write_results
from models.captioning.http_backend import HTTPBackend
from models.captioning.transformers_backend import TransformersBackend
from models.captioning.vllm_backend import VLLMBackend, loadable_model
from models.captioning.vllm_server import (
    free_port,
    local_server,
    server_argv,
    vllm_python,
)


def _captions(backend, per_class: int) -> dict:
    sources = [dataclasses.replace(s, classes=s.classes[:1]) for s in SYNTHETIC_SOURCES]
    _, stats = synthesize_class_captions(backend, sources, captions_per_class=per_class, max_rounds=1, seed=0)
    return {k: stats[k] for k in ("generated", "seconds", "tokens_generated", "tokens_per_s", "captions_per_s",
                                  "generations_per_s", "pass_rate")}


def transformers_run(per_class: int, cache_dir: str) -> dict:
    started = time.perf_counter()
    backend = TransformersBackend(cache_dir=cache_dir)
    return {"backend": "transformers (batch 16, in process)", "load_seconds": round(time.perf_counter() - started, 1),
            **_captions(backend, per_class)}


def vllm_run(per_class: int, cache_dir: str, gpu_memory_utilization: float, log_path: Path) -> dict:
    port = free_port()
    model_id = VLLMBackend.model_id_for(None)
    argv = server_argv(loadable_model(None, cache_dir), served_name=model_id, host="127.0.0.1", port=port,
                       max_model_len=1024, dtype="auto", enforce_eager=True,
                       gpu_memory_utilization=gpu_memory_utilization, engine_options={"max_num_seqs": 16})
    with log_path.open("w") as log, local_server(vllm_python(), argv, log=log) as load_seconds:
        backend = HTTPBackend(f"http://127.0.0.1:{port}", model_name=model_id, max_concurrency=16,
                              structured_output=False)
        return {"backend": "vLLM server (enforce_eager, free text as vllm.yaml, 16 in flight)",
                "load_seconds": round(load_seconds, 1), **_captions(backend, per_class)}


def run(per_class: int, gpu_memory_utilization: float) -> dict:
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
               "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as cache_dir:
        results["runs"] = [transformers_run(per_class, cache_dir),
                           vllm_run(per_class, cache_dir, gpu_memory_utilization, Path(cache_dir) / "vllm.log")]
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return results


def to_markdown(results: dict) -> str:
    table = md_table([(r["backend"], r["load_seconds"], r["generated"], r["tokens_generated"], r["seconds"],
                       r["tokens_per_s"], r["captions_per_s"], r["pass_rate"]) for r in results["runs"]],
                     ("backend", "load s", "generated", "tokens", "s", "tokens/s", "valid captions/s", "pass rate"))
    return f"Load average {results['load_average_before']} -> {results['load_average_after']}\n\n{table}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.1,
                        help="vLLM's memory share: of host memory on the CPU build, of the GPU's on a GPU")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = run(args.per_class, args.gpu_memory_utilization)
    markdown = to_markdown(results)
    write_results("captions_vllm", results, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
