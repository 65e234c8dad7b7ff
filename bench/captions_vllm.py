"""vLLM against the transformers backend on the same caption prompts: the first class of every
synthetic source, `--per-class` captions each, one round, validated as class_captions validates.

vLLM runs as class_captions runs it with `-c pipelines/configs/vllm.yaml` (or `--config`): its
OpenAI-compatible server from the vLLM environment (.venv-vllm: `make setup-vllm`, the CPU build; on a
GPU machine `make setup-vllm VLLM_BUILD=gpu` and `--config pipelines/configs/gpu.yaml`) with that
file's vllm block, spoken to by the http backend; the transformers backend runs in this process. Each
model is loaded before the clock starts (load seconds are reported apart). tokens/s counts generated
tokens, valid captions/s the captions that pass validation. Writes bench/results/captions_vllm.{json,md}.
    python -m bench.captions_vllm [--per-class 4] [--config pipelines/configs/vllm.yaml]
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

import dagster as dg

from assets.captions.resource import VLLMOptions
from assets.captions.synthesize import synthesize_class_captions
from assets.captions.vllm_pipes import client_for, server_argv_for
from assets.shared.metadata import md_table
from assets.sources.synthetic import SYNTHETIC_SOURCES
from bench.output import write_results
from models.captioning.transformers_backend import TransformersBackend
from models.captioning.vllm_server import (
    REPO_ROOT,
    free_port,
    local_server,
    vllm_python,
)

VLLM_CONFIG = REPO_ROOT / "pipelines" / "configs" / "vllm.yaml"


def _captions(backend, per_class: int) -> dict:
    sources = [dataclasses.replace(s, classes=s.classes[:1]) for s in SYNTHETIC_SOURCES]
    _, stats = synthesize_class_captions(backend, sources, captions_per_class=per_class, max_rounds=1, seed=0)
    return {k: stats[k] for k in ("generated", "seconds", "tokens_generated", "tokens_per_s", "captions_per_s",
                                  "generations_per_s", "pass_rate")}


def transformers_run(per_class: int, cache_dir: str) -> dict:
    started = time.perf_counter()
    backend = TransformersBackend(cache_dir=cache_dir, processes=1)
    return {"backend": "transformers (batch 16, in process)", "load_seconds": round(time.perf_counter() - started, 1),
            **_captions(backend, per_class)}


def vllm_options(config: Path, cache_dir: str) -> VLLMOptions:
    """The vllm block of the run config file `config` (defaults where it has none), its model
    converted under `cache_dir`."""
    block = dg.config_from_files([str(config)])["resources"]["caption_llm"]["config"].get("vllm", {})
    return VLLMOptions(**{**block, "cache_dir": cache_dir})


def vllm_run(per_class: int, config: Path, cache_dir: str, log_path: Path) -> dict:
    options = vllm_options(config, cache_dir)
    port = free_port()
    with log_path.open("w") as log, local_server(vllm_python(options.python), server_argv_for(options, port),
                                                 log=log) as load_seconds:
        backend = client_for(options, f"http://127.0.0.1:{port}")
        settings = ", ".join(f"{k}={v}" for k, v in {"dtype": options.dtype, **options.engine_options}.items())
        return {"backend": f"vLLM server as {config.name} ({settings}; {options.max_concurrency} in flight)",
                "load_seconds": round(load_seconds, 1), **_captions(backend, per_class)}


def run(per_class: int, config: Path) -> dict:
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
               "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as cache_dir:
        results["runs"] = [transformers_run(per_class, cache_dir),
                           vllm_run(per_class, config, cache_dir, Path(cache_dir) / "vllm.log")]
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
    parser.add_argument("--config", type=Path, default=VLLM_CONFIG,
                        help="the run config whose vllm block the server takes (on a GPU: pipelines/configs/gpu.yaml)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = run(args.per_class, args.config)
    markdown = to_markdown(results)
    write_results("captions_vllm", results, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
